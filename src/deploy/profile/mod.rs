//! Reading a deployed or built profile: which processes it starts in a runlevel, in which
//! order, and which credentials it carries.
//!
//! A profile is a directory tree (usually a Nix store path) holding, per process,
//! `etc/rc.d/init.d/NAME`, start links `etc/rc.d/rcN.d/SNNNAME`, an optional manifest
//! `share/nixproc-sysvinit/processes/NAME.json` and optional credential files under
//! `dysnomia-support/{groups,users}/`. Dependencies come from the manifests; a process
//! without a manifest depends on every process of the nearest lower start sequence, so a
//! profile made by an older generator is ordered by its S-numbers alone.

pub mod generations;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::{DeployError, Result};
use crate::tree::layout::{self, GROUPS, USERS};
use crate::tree::{Manifest, ManifestError};

pub use crate::tree::layout::MANIFEST_DIR;

/// One process a profile starts in the selected runlevel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Process {
    /// Name of the init.d script (and of the process).
    pub name: String,
    /// The script as seen through the profile (`PROFILE/etc/rc.d/init.d/NAME`).
    pub script: PathBuf,
    /// The script with every symlink resolved (its store path).
    pub resolved: PathBuf,
    /// Start sequence number from the `S` link.
    pub sequence: u32,
    /// Names of the processes this one needs running first.
    pub dependencies: Vec<String>,
    /// Whether the dependencies came from a manifest (otherwise from S-numbers).
    pub has_manifest: bool,
    /// The account the process runs as (the manifest's `user`), if any.
    pub user: Option<String>,
    /// Its secrets (the manifest's `secrets`).
    pub secrets: Vec<crate::tree::manifest::ManifestSecret>,
}

impl Process {
    /// Whether `other` is the same deployment of this process: the same resolved script,
    /// or a script with identical bytes (a script names every store path it uses, so equal
    /// text means equal behaviour even when two profile copies hold it).
    pub fn same_as(&self, other: &Process) -> bool {
        if self.name != other.name {
            return false;
        }
        if self.resolved == other.resolved {
            return true;
        }
        match (fs::read(&self.resolved), fs::read(&other.resolved)) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
    }
}

/// A profile as far as a switch is concerned.
#[derive(Debug, Clone, Default)]
pub struct Profile {
    /// The directory read, `None` for the empty profile.
    pub root: Option<PathBuf>,
    /// The runlevel whose start links were read.
    pub runlevel: u8,
    /// Processes started in that runlevel, by name.
    pub processes: BTreeMap<String, Process>,
    /// Group credential files by group name.
    pub groups: BTreeMap<String, PathBuf>,
    /// User credential files by user name.
    pub users: BTreeMap<String, PathBuf>,
}

impl Profile {
    /// A profile with no processes (nothing deployed yet).
    pub fn empty(runlevel: u8) -> Profile {
        Profile {
            runlevel,
            ..Profile::default()
        }
    }

    /// Reads the profile at `root` for `runlevel`.
    ///
    /// Errors name the offending file: unreadable directories, malformed manifests, start
    /// links without a script.
    pub fn read(root: &Path, runlevel: u8) -> Result<Profile> {
        let mut profile = Profile {
            root: Some(root.to_path_buf()),
            runlevel,
            ..Profile::default()
        };
        let level_dir = root.join(layout::runlevel_path(runlevel));
        for (name, sequence) in start_links(&level_dir)? {
            let process = read_process(root, name, sequence)?;
            if let Some(prev) = profile.processes.get(&process.name) {
                return Err(DeployError::Profile {
                    path: level_dir,
                    message: format!(
                        "process `{}` has two start links (S{:02} and S{sequence:02})",
                        process.name, prev.sequence
                    ),
                });
            }
            profile.processes.insert(process.name.clone(), process);
        }
        profile.order_by_sequence_without_manifest();
        profile.groups = credential_files(root, GROUPS)?;
        profile.users = credential_files(root, USERS)?;
        Ok(profile)
    }

    /// Processes without a manifest wait for the nearest lower sequence layer.
    fn order_by_sequence_without_manifest(&mut self) {
        let mut by_sequence: BTreeMap<u32, Vec<String>> = BTreeMap::new();
        for p in self.processes.values() {
            by_sequence
                .entry(p.sequence)
                .or_default()
                .push(p.name.clone());
        }
        for p in self.processes.values_mut().filter(|p| !p.has_manifest) {
            if let Some((_, names)) = by_sequence.range(..p.sequence).next_back() {
                p.dependencies = names.clone();
            }
        }
    }

    /// Checks that every process's `user` exists on this machine or is created by the
    /// profile's credentials, so that a start cannot fail for a missing account after
    /// other processes were already stopped. `account_exists` asks the account database.
    pub fn check_users(&self, account_exists: impl Fn(&str) -> bool) -> Result<()> {
        for p in self.processes.values() {
            let Some(user) = &p.user else { continue };
            if self.users.contains_key(user) || account_exists(user) {
                continue;
            }
            let mut known: Vec<&str> = self.users.keys().map(String::as_str).collect();
            known.extend(self.processes.keys().map(String::as_str));
            return Err(DeployError::Profile {
                path: p.script.clone(),
                message: format!(
                    "process `{}` runs as user `{user}`, which does not exist and which no \
                     credentials of the profile create{}",
                    p.name,
                    crate::error::suggestion_suffix(user, &known)
                ),
            });
        }
        Ok(())
    }

    /// The processes in start order: dependencies first, ties broken by sequence and name.
    ///
    /// Fails on a dependency that is not in the profile or a dependency cycle (naming it).
    pub fn start_order(&self) -> Result<Vec<String>> {
        let graph = crate::graph::Graph::new(
            self.processes
                .values()
                .map(|p| (p.name.as_str(), p.dependencies.iter().map(String::as_str))),
        )?;
        let order = graph.order_by(|name| (self.processes[name].sequence, name));
        Ok(order.into_iter().map(str::to_string).collect())
    }
}

/// The process name and start sequence of `link`, a file in an `rcN.d` directory;
/// `None` when it is not a start (`S`) link.
fn parse_start_link(link: &Path) -> Result<Option<(String, u32)>> {
    let file_name = link
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Some(rest) = file_name.strip_prefix(layout::START_LINK) else {
        return Ok(None);
    };
    // Prefer the link target's name: it tells where the digits end even when the
    // process name starts with a digit.
    let name = match fs::read_link(link) {
        Ok(target) => target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| rest.ends_with(n.as_str()) && rest.len() > n.len()),
        Err(_) => None,
    };
    let (digits, name) = match name {
        Some(n) => (rest[..rest.len() - n.len()].to_string(), n),
        None => {
            let d: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
            (d.clone(), rest[d.len()..].to_string())
        }
    };
    if digits.is_empty() || name.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(DeployError::Profile {
            path: link.to_path_buf(),
            message: "start link name is not S<number><name>".into(),
        });
    }
    let sequence: u32 = digits.parse().map_err(|_| DeployError::Profile {
        path: link.to_path_buf(),
        message: format!("sequence number `{digits}` is out of range"),
    })?;
    Ok(Some((name, sequence)))
}

/// The process names and start sequences of the start links in `level_dir` (none when
/// the directory does not exist), in file name order.
fn start_links(level_dir: &Path) -> Result<Vec<(String, u32)>> {
    if !level_dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut found = Vec::new();
    for entry in read_dir_sorted(level_dir)? {
        if let Some(start) = parse_start_link(&level_dir.join(&entry))? {
            found.push(start);
        }
    }
    Ok(found)
}

/// The process `name` started at `sequence`: its script and, when it has one, its
/// manifest's dependencies and user.
fn read_process(root: &Path, name: String, sequence: u32) -> Result<Process> {
    let script = root.join(layout::script_path(&name));
    let resolved = fs::canonicalize(&script).map_err(|e| DeployError::Profile {
        path: script.clone(),
        message: format!("start link for `{name}` has no script: {e}"),
    })?;
    let manifest_path = root.join(layout::manifest_path(&name));
    let manifest = if manifest_path.exists() {
        Some(read_manifest(&manifest_path, &name)?)
    } else {
        None
    };
    Ok(Process {
        has_manifest: manifest.is_some(),
        dependencies: manifest
            .as_ref()
            .map(|m| m.dependencies.clone())
            .unwrap_or_default(),
        secrets: manifest
            .as_ref()
            .map(|m| m.secrets.clone())
            .unwrap_or_default(),
        user: manifest.and_then(|m| m.user),
        name,
        script,
        resolved,
        sequence,
    })
}

/// The credential files of `kind` ([`GROUPS`] or [`USERS`]) in the profile at `root`,
/// by account name.
fn credential_files(root: &Path, kind: &str) -> Result<BTreeMap<String, PathBuf>> {
    let dir = root.join(layout::credentials_dir(kind));
    let mut files = BTreeMap::new();
    if dir.is_dir() {
        for entry in read_dir_sorted(&dir)? {
            files.insert(entry.to_string_lossy().into_owned(), dir.join(&entry));
        }
    }
    Ok(files)
}

/// The names of the entries of `dir`, sorted.
fn read_dir_sorted(dir: &Path) -> Result<Vec<std::ffi::OsString>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| DeployError::io("reading", dir, e))? {
        let entry = entry.map_err(|e| DeployError::io("reading", dir, e))?;
        names.push(entry.file_name());
    }
    names.sort();
    Ok(names)
}

/// The manifest of process `name` at `path` (see [`Manifest::from_json`] for what is
/// accepted: the switch uses its `dependencies` and `user`).
fn read_manifest(path: &Path, name: &str) -> Result<Manifest> {
    let text = fs::read_to_string(path).map_err(|e| DeployError::io("reading", path, e))?;
    Manifest::from_json(&text).map_err(|e| DeployError::Profile {
        path: path.to_path_buf(),
        message: match e {
            ManifestError::Json(e) => format!("manifest of `{name}` is not valid JSON: {e}"),
            ManifestError::Invalid(what) => format!("manifest of `{name}`: {what}"),
        },
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    /// A profile with scripts and start links in runlevel 3 for `(name, sequence)`.
    fn profile(processes: &[(&str, u32)]) -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fs::create_dir_all(root.join(layout::INIT_D_DIR)).unwrap();
        fs::create_dir_all(root.join(layout::runlevel_path(3))).unwrap();
        fs::create_dir_all(root.join(MANIFEST_DIR)).unwrap();
        for (name, sequence) in processes {
            fs::write(root.join(layout::script_path(name)), "#!/bin/sh\n").unwrap();
            let link = layout::link_path(3, layout::START_LINK, *sequence, name);
            symlink(
                layout::link_target(name),
                root.join(layout::RC_DIR).join(link),
            )
            .unwrap();
        }
        tmp
    }

    #[test]
    fn manifests_give_dependencies_and_users_and_their_absence_the_sequence() {
        let tmp = profile(&[("a", 1), ("b", 1), ("c", 2), ("d", 3)]);
        let manifest = |name: &str, text: &str| {
            fs::write(tmp.path().join(layout::manifest_path(name)), text).unwrap();
        };
        manifest(
            "c",
            r#"{"name":"c","dependencies":[{"name":"a"}],"user":"web"}"#,
        );
        manifest("b", r#"{"dependencies":null}"#);
        let p = Profile::read(tmp.path(), 3).unwrap();
        assert_eq!(p.processes["c"].dependencies, ["a"]);
        assert_eq!(p.processes["c"].user.as_deref(), Some("web"));
        assert!(p.processes["b"].has_manifest && p.processes["b"].dependencies.is_empty());
        assert!(!p.processes["d"].has_manifest);
        assert_eq!(p.processes["d"].dependencies, ["c"]);
    }

    #[test]
    fn a_malformed_manifest_is_named() {
        let tmp = profile(&[("a", 1)]);
        let path = tmp.path().join(layout::manifest_path("a"));
        for (text, message) in [
            ("{", "manifest of `a` is not valid JSON: "),
            (
                r#"{"user":1}"#,
                "manifest of `a`: attribute `user` must be a name",
            ),
            (
                r#"{"dependencies":"b"}"#,
                "manifest of `a`: attribute `dependencies` must be a list of names",
            ),
        ] {
            fs::write(&path, text).unwrap();
            let e = Profile::read(tmp.path(), 3).unwrap_err().to_string();
            let expected = format!("profile {}: {message}", path.display());
            assert!(e.starts_with(&expected), "{e}");
        }
    }

    #[test]
    fn credential_files_are_found_by_kind() {
        let tmp = profile(&[]);
        let users = tmp.path().join(layout::credentials_dir(USERS));
        fs::create_dir_all(&users).unwrap();
        fs::write(users.join("web"), "group='web'\n").unwrap();
        let p = Profile::read(tmp.path(), 3).unwrap();
        assert_eq!(p.users["web"], users.join("web"));
        assert!(p.groups.is_empty() && p.processes.is_empty());
    }
}
