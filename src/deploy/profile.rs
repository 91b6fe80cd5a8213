//! Reading a deployed or built profile: which processes it starts in a runlevel, in which
//! order, and which credentials it carries.
//!
//! A profile is a directory tree (usually a Nix store path) holding, per process,
//! `etc/rc.d/init.d/NAME`, start links `etc/rc.d/rcN.d/SNNNAME`, an optional manifest
//! `share/nixproc-sysvinit/processes/NAME.json` and optional credential files under
//! `dysnomia-support/{groups,users}/`. Dependencies come from the manifests; a process
//! without a manifest depends on every process of the nearest lower start sequence, so a
//! profile made by an older generator is ordered by its S-numbers alone.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use super::{DeployError, Result};

/// Where manifests live inside a profile.
pub const MANIFEST_DIR: &str = "share/nixproc-sysvinit/processes";

/// One process a profile starts in the selected runlevel.
#[derive(Debug, Clone, PartialEq, Eq)]
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
        let rc = root.join("etc/rc.d");
        let mut profile = Profile {
            root: Some(root.to_path_buf()),
            runlevel,
            ..Profile::default()
        };
        let level_dir = rc.join(format!("rc{runlevel}.d"));
        let mut found: Vec<(String, u32)> = Vec::new();
        if level_dir.is_dir() {
            for entry in read_dir_sorted(&level_dir)? {
                if let Some(start) = parse_start_link(&level_dir.join(&entry))? {
                    found.push(start);
                }
            }
        }
        for (name, sequence) in &found {
            let script = rc.join("init.d").join(name);
            let resolved = fs::canonicalize(&script).map_err(|e| DeployError::Profile {
                path: script.clone(),
                message: format!("start link for `{name}` has no script: {e}"),
            })?;
            let manifest_path = root.join(MANIFEST_DIR).join(format!("{name}.json"));
            let (dependencies, user, has_manifest) = if manifest_path.exists() {
                let (dependencies, user) = read_manifest(&manifest_path, name)?;
                (dependencies, user, true)
            } else {
                (Vec::new(), None, false)
            };
            if let Some(prev) = profile.processes.get(name) {
                return Err(DeployError::Profile {
                    path: level_dir.clone(),
                    message: format!(
                        "process `{name}` has two start links (S{:02} and S{sequence:02})",
                        prev.sequence
                    ),
                });
            }
            profile.processes.insert(
                name.clone(),
                Process {
                    name: name.clone(),
                    script,
                    resolved,
                    sequence: *sequence,
                    dependencies,
                    has_manifest,
                    user,
                },
            );
        }
        // Processes without a manifest wait for the nearest lower sequence layer.
        let sequences: BTreeSet<u32> = profile.processes.values().map(|p| p.sequence).collect();
        let by_sequence: BTreeMap<u32, Vec<String>> = profile.processes.values().fold(
            BTreeMap::new(),
            |mut acc: BTreeMap<u32, Vec<String>>, p| {
                acc.entry(p.sequence).or_default().push(p.name.clone());
                acc
            },
        );
        for p in profile.processes.values_mut() {
            if !p.has_manifest {
                if let Some(prev) = sequences.range(..p.sequence).next_back() {
                    p.dependencies = by_sequence[prev].clone();
                }
            }
        }
        for (kind, map) in [
            ("groups", &mut profile.groups),
            ("users", &mut profile.users),
        ] {
            let dir = root.join("dysnomia-support").join(kind);
            if dir.is_dir() {
                for entry in read_dir_sorted(&dir)? {
                    map.insert(entry.to_string_lossy().into_owned(), dir.join(&entry));
                }
            }
        }
        Ok(profile)
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

    /// Checks that every dependency exists and that the graph has no cycle; the cycle
    /// error names the path, e.g. `a -> b -> c -> a`.
    pub fn check_graph(&self) -> Result<()> {
        for p in self.processes.values() {
            for d in &p.dependencies {
                if !self.processes.contains_key(d) {
                    return Err(DeployError::MissingDependency {
                        process: p.name.clone(),
                        dependency: d.clone(),
                    });
                }
            }
        }
        // Depth-first search with an explicit path to report the cycle.
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Active,
            Done,
        }
        let mut marks: BTreeMap<&str, Mark> = self
            .processes
            .keys()
            .map(|k| (k.as_str(), Mark::New))
            .collect();
        for start in self.processes.keys() {
            if marks[start.as_str()] != Mark::New {
                continue;
            }
            let mut stack: Vec<(&str, usize)> = vec![(start.as_str(), 0)];
            marks.insert(start.as_str(), Mark::Active);
            while let Some(&mut (node, ref mut i)) = stack.last_mut() {
                let deps = &self.processes[node].dependencies;
                if *i < deps.len() {
                    let next = deps[*i].as_str();
                    *i += 1;
                    match marks[next] {
                        Mark::New => {
                            marks.insert(next, Mark::Active);
                            stack.push((next, 0));
                        }
                        Mark::Active => {
                            let from = stack.iter().position(|(n, _)| *n == next).unwrap_or(0);
                            let mut path: Vec<&str> =
                                stack[from..].iter().map(|(n, _)| *n).collect();
                            path.push(next);
                            return Err(DeployError::Cycle(path.join(" -> ")));
                        }
                        Mark::Done => {}
                    }
                } else {
                    marks.insert(node, Mark::Done);
                    stack.pop();
                }
            }
        }
        Ok(())
    }
}

/// The process name and start sequence of `link`, a file in an `rcN.d` directory;
/// `None` when it is not a start (`S`) link.
fn parse_start_link(link: &Path) -> Result<Option<(String, u32)>> {
    let file_name = link
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Some(rest) = file_name.strip_prefix('S') else {
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

/// The `dependencies` (names, or objects with a `name`) and the `user` of the manifest
/// of process `name` at `path`.
fn read_manifest(path: &Path, name: &str) -> Result<(Vec<String>, Option<String>)> {
    let text = fs::read_to_string(path).map_err(|e| DeployError::io("reading", path, e))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| DeployError::Profile {
            path: path.to_path_buf(),
            message: format!("manifest of `{name}` is not valid JSON: {e}"),
        })?;
    let bad = |what: &str| DeployError::Profile {
        path: path.to_path_buf(),
        message: format!("manifest of `{name}`: {what}"),
    };
    let dependencies = match value.get("dependencies") {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                serde_json::Value::String(s) => Ok(s.clone()),
                serde_json::Value::Object(o) => o
                    .get("name")
                    .and_then(|n| n.as_str())
                    .map(str::to_string)
                    .ok_or_else(|| bad("attribute `dependencies` holds an object without `name`")),
                _ => Err(bad("attribute `dependencies` must be a list of names")),
            })
            .collect::<Result<_>>()?,
        Some(_) => return Err(bad("attribute `dependencies` must be a list of names")),
    };
    let user = match value.get("user") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(u)) => Some(u.clone()),
        Some(_) => return Err(bad("attribute `user` must be a name")),
    };
    Ok((dependencies, user))
}
