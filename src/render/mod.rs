//! Rendering: a validated [`ProcessSpec`] becomes every file of its process tree.
//!
//! [`render`] is pure; [`write_tree`] is the only function here that touches the disk.
//! The Nix plugin and the `nixproc-sysvinit-render` binary both go through
//! [`render_json`], so their outputs are byte-identical.

pub mod credentials;
pub mod layout;
pub mod logrotate;
pub mod manifest;
pub mod script;

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use credentials::CredentialFiles;
pub use layout::Link;
pub use manifest::Manifest;

pub use crate::tree::layout::CLAIMS_DIR;

use crate::error::Result;
use crate::spec::{self, ProcessSpec};
use crate::tree;

/// Everything rendered for one process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rendered {
    /// Process (script) name.
    pub name: String,
    /// The init.d script text.
    pub script: String,
    /// Start sequence number.
    pub sequence: u32,
    /// Stop sequence number.
    pub stop_sequence: u32,
    /// The rc.d links, relative to `etc/rc.d`.
    pub links: Vec<Link>,
    /// Credential files.
    pub credentials: CredentialFiles,
    /// The manifest as JSON text.
    pub manifest: String,
    /// Further files of the tree, by path relative to it (the logrotate configuration).
    #[serde(default)]
    pub files: BTreeMap<String, String>,
}

/// Renders a validated spec.
pub fn render(spec: &ProcessSpec) -> Result<Rendered> {
    let seq = layout::sequences(spec)?;
    let paths = layout::runtime_paths(spec);
    let script = script::render(spec, &paths);
    let files = logrotate::config(spec, script.reload.as_deref())
        .map(|text| (tree::layout::logrotate_path(&spec.name), text))
        .into_iter()
        .collect();
    let manifest = manifest::build(spec, seq.start, seq.stop, paths, script.activities).to_json();
    Ok(Rendered {
        name: spec.name.clone(),
        script: script.text,
        sequence: seq.start,
        stop_sequence: seq.stop,
        links: layout::links(spec, seq),
        credentials: credentials::render(&spec.credentials),
        manifest,
        files,
    })
}

/// Checks a validated spec for what only rendering could still refuse (its sequence
/// numbers), without rendering it: together with [`spec::parse`], every error [`render`]
/// can report, at a fraction of its cost.
pub fn check(spec: &ProcessSpec) -> Result<()> {
    layout::sequences(spec).map(|_| ())
}

/// Parses and renders a JSON value.
pub fn render_value(value: &serde_json::Value) -> Result<Rendered> {
    render(&spec::parse(value)?)
}

/// The text entry point of the plugin: JSON spec in, JSON [`Rendered`] out, or the error
/// message.
pub fn render_json(input: &str) -> std::result::Result<String, String> {
    let rendered = spec::parse_json(input)
        .and_then(|spec| render(&spec))
        .map_err(|e| e.to_string())?;
    serde_json::to_string(&rendered).map_err(|e| e.to_string())
}

/// Writes a file that several trees may provide, as long as they agree on its content.
fn write_shared(path: &Path, text: &str) -> io::Result<()> {
    match fs::read_to_string(path) {
        Ok(existing) if existing == text => Ok(()),
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "{} is provided twice with different content",
                path.display()
            ),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::write(path, text),
        Err(e) => Err(e),
    }
}

/// Writes the process tree of `rendered` below `out` (which may exist).
///
/// Several trees may be written into one directory (a profile); a file that another tree
/// already wrote with different content is an error, never silently replaced. Names and
/// link paths that could point outside `out` are refused, so hand-made renderings are
/// safe to write too.
pub fn write_tree(rendered: &Rendered, out: &Path) -> io::Result<()> {
    check_tree_paths(rendered)?;
    write_script(rendered, out)?;
    write_credentials(rendered, out)?;
    write_files(rendered, out)?;
    claim_runtime_files(rendered, out)?;
    let manifest = out.join(tree::layout::manifest_path(&rendered.name));
    if let Some(dir) = manifest.parent() {
        fs::create_dir_all(dir)?;
    }
    fs::write(manifest, &rendered.manifest)
}

/// Refuses a rendering whose process name, account names, link paths or file paths
/// could point outside its tree: absolute, empty, or with an empty, `.` or `..`
/// component (and a name or an account name with a `/` at all).
fn check_tree_paths(rendered: &Rendered) -> io::Result<()> {
    let unsafe_path = |p: &str| {
        p.is_empty()
            || p.starts_with('/')
            || p.split('/').any(|c| c.is_empty() || c == "." || c == "..")
    };
    let account_names = rendered
        .credentials
        .groups
        .keys()
        .chain(rendered.credentials.users.keys());
    if rendered.name.contains('/')
        || unsafe_path(&rendered.name)
        || rendered.links.iter().any(|l| unsafe_path(&l.path))
        || account_names
            .into_iter()
            .any(|n| n.contains('/') || unsafe_path(n))
        || rendered.files.keys().any(|p| unsafe_path(p))
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "rendering '{}' names a path outside its tree",
                rendered.name
            ),
        ));
    }
    Ok(())
}

/// Writes the init.d script of `rendered` (executable) and its runlevel links.
fn write_script(rendered: &Rendered, out: &Path) -> io::Result<()> {
    let rc = out.join(tree::layout::RC_DIR);
    let init_d = rc.join(tree::layout::INIT_D);
    fs::create_dir_all(&init_d)?;
    let script = init_d.join(&rendered.name);
    fs::write(&script, &rendered.script)?;
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755))?;
    for link in &rendered.links {
        let path = rc.join(&link.path);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        symlink(&link.target, &path)?;
    }
    Ok(())
}

/// Writes the group and user files of `rendered`, which other trees may share.
fn write_credentials(rendered: &Rendered, out: &Path) -> io::Result<()> {
    for (kind, files) in [
        (tree::layout::GROUPS, &rendered.credentials.groups),
        (tree::layout::USERS, &rendered.credentials.users),
    ] {
        if files.is_empty() {
            continue;
        }
        let dir = out.join(tree::layout::credentials_dir(kind));
        fs::create_dir_all(&dir)?;
        for (name, text) in files {
            write_shared(&dir.join(name), text)?;
        }
    }
    Ok(())
}

/// Writes the further files of `rendered` (their paths checked already).
fn write_files(rendered: &Rendered, out: &Path) -> io::Result<()> {
    for (rel, text) in &rendered.files {
        let path = out.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        write_shared(&path, text)?;
    }
    Ok(())
}

/// The file name of the claim on `path`: the path with every byte outside
/// `[A-Za-z0-9._-]` (and a leading `.`) written as `%XX`; a long result is cut and
/// completed with a hash of the whole path.
pub fn claim_name(path: &str) -> String {
    let mut name = String::with_capacity(path.len() + 16);
    for (i, b) in path.bytes().enumerate() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || (b == b'.' && i > 0) {
            name.push(char::from(b));
        } else {
            name.push_str(&format!("%{b:02X}"));
        }
    }
    if name.len() > 200 {
        // FNV-1a, 64 bits: stable across builds and platforms.
        let hash = path.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        name.truncate(180);
        name.push_str(&format!("~{hash:016x}"));
    }
    name
}

/// Records in the tree which process uses each of its run-time files (the PID file and
/// the log file named by its manifest): one file `CLAIMS_DIR/NAME` per path, holding
/// the process name, what the file is to it, and the path, one per line. A path that
/// another process of the same tree (profile) already claims is an error naming both
/// processes: they would overwrite each other's PID file, and stopping one would stop
/// the other.
fn claim_runtime_files(rendered: &Rendered, out: &Path) -> io::Result<()> {
    let dir = out.join(CLAIMS_DIR);
    for claim in runtime_claims(rendered) {
        fs::create_dir_all(&dir)?;
        let file = dir.join(&claim.name);
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&file)
        {
            Ok(mut f) => io::Write::write_all(&mut f, claim.text.as_bytes())?,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let existing = fs::read_to_string(&file)?;
                let mut lines = existing.lines();
                let other = lines.next().unwrap_or_default();
                let other_kind = lines.next().unwrap_or("run-time file");
                if other == rendered.name {
                    continue;
                }
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!(
                        "processes '{other}' and '{}' both use {} ('{other}' as its \
                         {other_kind}, '{}' as its {}); give them distinct \
                         instanceName (or pidFile) values",
                        rendered.name, claim.path, rendered.name, claim.kind
                    ),
                ));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A process's claim on one of its run-time files (see [`runtime_claims`]; [`write_tree`] writes them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeClaim {
    /// The claim's file name below [`CLAIMS_DIR`] ([`claim_name`] of `path`).
    pub name: String,
    /// The claim file's text: process name, `kind` and `path`, one per line.
    pub text: String,
    /// The run-time file.
    pub path: String,
    /// What the file is to the process: "PID file" or "log file".
    pub kind: &'static str,
}

/// The claims of `rendered` on the run-time files its manifest names (none for a
/// manifest that [`Manifest::from_json`] refuses, as in hand-made renderings).
pub fn runtime_claims(rendered: &Rendered) -> Vec<RuntimeClaim> {
    let Ok(manifest) = Manifest::from_json(&rendered.manifest) else {
        return Vec::new();
    };
    [
        ("PID file", manifest.pid_file),
        ("log file", manifest.log_file),
    ]
    .into_iter()
    .filter_map(|(kind, path)| {
        let path = path?;
        Some(RuntimeClaim {
            name: claim_name(&path),
            text: format!("{}\n{kind}\n{path}\n", rendered.name),
            path,
            kind,
        })
    })
    .collect()
}
