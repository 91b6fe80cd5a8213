//! The fleet file, `hosts.nix`: an attribute set from host names to
//! `{ targetHost; processes ? <path>; extraParams ? { }; }`, evaluated by
//! `nix-instantiate` into [`HostSpec`]s.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{RemoteError, TargetHost};
use crate::deploy::nix::{nix_command, NixOptions};
use crate::error::suggestion_suffix;

/// The attributes a host may have in `hosts.nix`.
pub const HOST_ATTRIBUTES: &[&str] = &["targetHost", "processes", "extraParams"];

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
}

impl HostSpec {
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
            Ok(Some(vec![HostSpec {
                name: target.to_string(),
                target,
                processes: None,
                extra_params: "{}".into(),
            }]))
        }
        (None, Some(file)) => read_hosts(file, options).map(Some),
        (None, None) => Ok(None),
    }
}

/// One evaluated host, checked.
fn host_spec(name: &str, value: &serde_json::Value) -> Result<HostSpec, String> {
    let attributes = value["attributes"].as_array().cloned().unwrap_or_default();
    for attribute in attributes.iter().filter_map(|a| a.as_str()) {
        if !HOST_ATTRIBUTES.contains(&attribute) {
            return Err(format!(
                "host '{name}': unknown attribute '{attribute}'{}",
                suggestion_suffix(attribute, HOST_ATTRIBUTES)
            ));
        }
    }
    let target = match &value["targetHost"] {
        serde_json::Value::String(text) => text
            .parse::<TargetHost>()
            .map_err(|e| format!("host '{name}': targetHost: {e}"))?,
        serde_json::Value::Null => {
            return Err(format!(
                "host '{name}': targetHost is missing (write targetHost = \"root@{name}\";)"
            ))
        }
        other => {
            return Err(format!(
                "host '{name}': targetHost must be a string, got {}",
                crate::error::kind_of(other)
            ))
        }
    };
    let extra = &value["extraParams"];
    if !extra.is_object() {
        return Err(format!(
            "host '{name}': extraParams must be an attribute set, got {}",
            crate::error::kind_of(extra)
        ));
    }
    Ok(HostSpec {
        name: name.to_string(),
        target,
        processes: value["processes"].as_str().map(PathBuf::from),
        extra_params: extra.to_string(),
    })
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
    }
}
