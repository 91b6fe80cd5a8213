//! The fleet file, `hosts.nix`: an attribute set from host names to
//! `{ targetHost; processes ? <path>; extraParams ? { }; tags ? [ ]; sudo ? false;
//! healthChecks ? [ ]; nixStorePath ? null; }`, evaluated by `nix-instantiate` into
//! [`HostSpec`]s.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{RemoteError, TargetHost};
use crate::deploy::model::nix::{nix_command, NixOptions};
use crate::error::suggestion_suffix;

/// The attributes a host may have in `hosts.nix`.
pub const HOST_ATTRIBUTES: &[&str] = &[
    "targetHost",
    "processes",
    "extraParams",
    "tags",
    "sudo",
    "healthChecks",
    "nixStorePath",
];

/// One host of the fleet.
#[derive(Clone, Debug, PartialEq)]
pub struct HostSpec {
    /// The host's name in `hosts.nix` (what reports show).
    pub name: String,
    /// Where it is reached.
    pub target: TargetHost,
    /// Its processes model, when it has one (needed to deploy, not to roll back).
    pub processes: Option<PathBuf>,
    /// Its `extraParams` as a JSON object text (`{}` when not given).
    pub extra_params: String,
    /// Its `tags`, for `--on @TAG`.
    pub tags: Vec<String>,
    /// Whether the tool runs there under `sudo` (`sudo = true;`, or `--sudo`).
    pub sudo: bool,
    /// Shell commands run on the host that must succeed for a switch there to be
    /// confirmed (`healthChecks`).
    pub health_checks: Vec<String>,
    /// The directory of Nix's programs on the host, for hosts whose non-interactive
    /// PATH lacks them (`nixStorePath`, e.g. `/nix/var/nix/profiles/default/bin`).
    pub nix_bin_dir: Option<String>,
}

impl HostSpec {
    /// A host `name` reached at `target`, with no model and every setting at its default.
    pub fn new(name: &str, target: TargetHost) -> HostSpec {
        HostSpec {
            name: name.to_string(),
            target,
            processes: None,
            extra_params: "{}".into(),
            tags: Vec::new(),
            sudo: false,
            health_checks: Vec::new(),
            nix_bin_dir: None,
        }
    }

    /// What decides the profile built for this host: hosts with equal keys share one
    /// build.
    pub fn model_key(&self) -> Option<(PathBuf, String)> {
        self.processes
            .clone()
            .map(|path| (path, self.extra_params.clone()))
    }
}

/// The Nix expression turning the fleet file into plain JSON (paths as strings, not
/// copied to the store).
const READ_HOSTS: &str = r#"{ file }:
let
  hosts = import file;
  describe = name: h:
    if !builtins.isAttrs h then throw "host '${name}' in ${toString file}: expected an attribute set, got a ${builtins.typeOf h}"
    else {
      targetHost = h.targetHost or null;
      processes = if h ? processes && h.processes != null then toString h.processes else null;
      extraParams = h.extraParams or { };
      tags = h.tags or [ ];
      sudo = h.sudo or false;
      healthChecks = h.healthChecks or [ ];
      nixStorePath = if h ? nixStorePath && h.nixStorePath != null then toString h.nixStorePath else null;
      attributes = builtins.attrNames h;
    };
in
if builtins.isFunction hosts then throw "${toString file} is a function; a fleet file is an attribute set of hosts"
else if !builtins.isAttrs hosts then throw "${toString file}: expected an attribute set of hosts, got a ${builtins.typeOf hosts}"
else builtins.mapAttrs describe hosts
"#;

/// Evaluates the fleet file `file` and checks every host: a `targetHost` that `ssh`
/// can use, no unknown attribute (with a suggestion for a typo), `extraParams` an
/// attribute set. Hosts come sorted by name.
pub fn read_hosts(file: &Path, options: &NixOptions) -> Result<Vec<HostSpec>, RemoteError> {
    let invalid = |why: String| RemoteError::Fleet {
        file: file.to_path_buf(),
        why,
    };
    let absolute =
        std::fs::canonicalize(file).map_err(|e| invalid(format!("cannot read it: {e}")))?;
    let mut cmd = nix_command("nix-instantiate", options);
    cmd.args([
        "--eval", "--strict", "--json", "--expr", READ_HOSTS, "--arg", "file",
    ])
    .arg(&absolute);
    let output = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| invalid(format!("cannot run nix-instantiate: {e}")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(invalid(stderr.trim().to_string()));
    }
    let hosts: BTreeMap<String, serde_json::Value> = serde_json::from_slice(&output.stdout)
        .map_err(|e| invalid(format!("unexpected evaluation result: {e}")))?;
    if hosts.is_empty() {
        return Err(invalid("it names no host".into()));
    }
    hosts
        .into_iter()
        .map(|(name, value)| host_spec(&name, &value).map_err(&invalid))
        .collect()
}

/// The hosts `--target-host` or `--hosts` select: one host named after its target, or
/// the fleet file's hosts. `None` when neither is given.
pub fn selected_hosts(
    target_host: Option<&str>,
    fleet_file: Option<&Path>,
    options: &NixOptions,
) -> Result<Option<Vec<HostSpec>>, RemoteError> {
    match (target_host, fleet_file) {
        (Some(text), _) => {
            let target: TargetHost = text.parse()?;
            Ok(Some(vec![HostSpec::new(&target.to_string(), target)]))
        }
        (None, Some(file)) => read_hosts(file, options).map(Some),
        (None, None) => Ok(None),
    }
}

/// One evaluated host, checked.
fn host_spec(name: &str, value: &serde_json::Value) -> Result<HostSpec, String> {
    let host = HostValue { name, value };
    host.check_attributes()?;
    let extra = &value["extraParams"];
    if !extra.is_object() {
        return Err(host.wrong_type("extraParams", "an attribute set"));
    }
    Ok(HostSpec {
        name: name.to_string(),
        target: host.target()?,
        processes: value["processes"].as_str().map(PathBuf::from),
        extra_params: extra.to_string(),
        tags: host.tags()?,
        sudo: host.sudo()?,
        health_checks: host.strings("healthChecks", "shell commands")?,
        nix_bin_dir: host.nix_bin_dir()?,
    })
}

/// A host's evaluated entry, read attribute by attribute; every error names the host.
struct HostValue<'a> {
    /// The host's name in the fleet file.
    name: &'a str,
    /// Its attributes as the fleet's evaluation gave them.
    value: &'a serde_json::Value,
}

impl HostValue<'_> {
    /// `host 'NAME': KEY must be WHAT, got KIND`.
    fn wrong_type(&self, key: &str, what: &str) -> String {
        format!(
            "host '{}': {key} must be {what}, got {}",
            self.name,
            crate::error::kind_of(&self.value[key])
        )
    }

    /// Refuses an attribute a host entry does not have, with a suggestion.
    fn check_attributes(&self) -> Result<(), String> {
        let attributes = self.value["attributes"].as_array();
        let names = attributes.into_iter().flatten().filter_map(|a| a.as_str());
        match names.into_iter().find(|a| !HOST_ATTRIBUTES.contains(a)) {
            Some(unknown) => Err(format!(
                "host '{}': unknown attribute '{unknown}'{}",
                self.name,
                suggestion_suffix(unknown, HOST_ATTRIBUTES)
            )),
            None => Ok(()),
        }
    }

    /// `targetHost`, which every host needs.
    fn target(&self) -> Result<TargetHost, String> {
        match &self.value["targetHost"] {
            serde_json::Value::String(text) => text
                .parse::<TargetHost>()
                .map_err(|e| format!("host '{}': targetHost: {e}", self.name)),
            serde_json::Value::Null => Err(format!(
                "host '{0}': targetHost is missing (write targetHost = \"root@{0}\";)",
                self.name
            )),
            _ => Err(self.wrong_type("targetHost", "a string")),
        }
    }

    /// The list of strings `key` (none when absent); `what` names its items.
    fn strings(&self, key: &str, what: &str) -> Result<Vec<String>, String> {
        let not_strings = || self.wrong_type(key, &format!("a list of {what}"));
        match &self.value[key] {
            serde_json::Value::Null => Ok(Vec::new()),
            serde_json::Value::Array(items) => items
                .iter()
                .map(|item| item.as_str().map(str::to_string).ok_or_else(not_strings))
                .collect(),
            _ => Err(not_strings()),
        }
    }

    /// `tags`: names that `@TAG` can select.
    fn tags(&self) -> Result<Vec<String>, String> {
        let tags = self.strings("tags", "names")?;
        match tags.iter().find(|t| !is_tag(t)) {
            Some(bad) => Err(format!(
                "host '{}': tag '{bad}' is not a name (letters, digits, '-', '_', '.')",
                self.name
            )),
            None => Ok(tags),
        }
    }

    /// `sudo` [default: false].
    fn sudo(&self) -> Result<bool, String> {
        match &self.value["sudo"] {
            serde_json::Value::Null => Ok(false),
            serde_json::Value::Bool(b) => Ok(*b),
            _ => Err(self.wrong_type("sudo", "true or false")),
        }
    }

    /// `nixStorePath`: an absolute directory on the host, if given.
    fn nix_bin_dir(&self) -> Result<Option<String>, String> {
        match &self.value["nixStorePath"] {
            serde_json::Value::Null => Ok(None),
            serde_json::Value::String(dir)
                if dir.starts_with('/') && !dir.contains(['\n', '\0']) =>
            {
                Ok(Some(dir.clone()))
            }
            other => Err(format!(
                "host '{}': nixStorePath must be the absolute path of the directory of \
                 nix-store on the host, got {other}",
                self.name
            )),
        }
    }
}

/// Whether `tag` can be a host's tag (so that `@TAG` and globs over it are unambiguous).
fn is_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn evaluated(host: serde_json::Value) -> serde_json::Value {
        let mut host = host;
        let names: Vec<String> = host.as_object().unwrap().keys().cloned().collect();
        host["attributes"] = json!(names);
        host.as_object_mut()
            .unwrap()
            .entry("extraParams")
            .or_insert(json!({}));
        host
    }

    #[test]
    fn a_host_reads_into_its_spec() {
        let spec = host_spec(
            "web1",
            &evaluated(
                json!({"targetHost": "root@10.0.0.2", "processes": "/srv/p.nix",
                "extraParams": {"port": 8080}}),
            ),
        )
        .unwrap();
        assert_eq!(spec.target.to_string(), "root@10.0.0.2");
        assert_eq!(spec.processes, Some(PathBuf::from("/srv/p.nix")));
        assert_eq!(spec.extra_params, r#"{"port":8080}"#);
    }

    #[test]
    fn mistakes_name_the_host_and_the_attribute() {
        let err = |v: serde_json::Value| host_spec("web1", &evaluated(v)).unwrap_err();
        let typo = err(json!({"targetHost": "h", "proceses": "/p.nix"}));
        assert!(
            typo.contains("host 'web1': unknown attribute 'proceses'"),
            "{typo}"
        );
        assert!(typo.contains("processes"), "{typo}");
        assert!(err(json!({})).contains("targetHost is missing"));
        assert!(err(json!({"targetHost": 3})).contains("targetHost must be a string"));
        assert!(err(json!({"targetHost": "-oX"})).contains("invalid target host"));
        assert!(err(json!({"targetHost": "h", "extraParams": [1]}))
            .contains("extraParams must be an attribute set"));
        assert!(err(json!({"targetHost": "h", "tags": "web"}))
            .contains("host 'web1': tags must be a list of names, got a string"));
        assert!(err(json!({"targetHost": "h", "tags": ["a b"]})).contains("tag 'a b'"));
        assert!(err(json!({"targetHost": "h", "sudo": "yes"})).contains("sudo must be true"));
        assert!(err(json!({"targetHost": "h", "healthChecks": [1]}))
            .contains("healthChecks must be a list of shell commands"));
        assert!(err(json!({"targetHost": "h", "nixStorePath": "bin"}))
            .contains("nixStorePath must be the absolute path"));
    }

    #[test]
    fn tags_sudo_health_checks_and_the_nix_directory_are_read() {
        let spec = host_spec(
            "web1",
            &evaluated(
                json!({"targetHost": "deploy@h", "tags": ["web", "eu"], "sudo": true,
                "healthChecks": ["curl -fsS http://127.0.0.1:8080/"],
                "nixStorePath": "/nix/var/nix/profiles/default/bin"}),
            ),
        )
        .unwrap();
        assert_eq!(spec.tags, ["web", "eu"]);
        assert!(spec.sudo);
        assert_eq!(spec.health_checks, ["curl -fsS http://127.0.0.1:8080/"]);
        assert_eq!(
            spec.nix_bin_dir.as_deref(),
            Some("/nix/var/nix/profiles/default/bin")
        );
    }
}
