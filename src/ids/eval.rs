//! Evaluating with `nix-instantiate --eval --strict --json`: a model's id requirements
//! (through `nix/id-requirements.nix`, which calls the model with the arguments
//! build-profile.nix gives it and never forces a `pkg`), and plain files such as
//! idresources.nix and ids.nix.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_json::Value;

use super::{IdsError, Requirements, Result};
use crate::deploy::model::nix::{nix_command, NixOptions};
use crate::deploy::model::{self, BuildParams, ModelSource};
use crate::deploy::{output_of, DeployError};
use crate::error::kind_of;

/// The file, next to build-profile.nix, that evaluates a model's requirements.
pub const REQUIREMENTS_NIX: &str = "id-requirements.nix";

/// The instance attributes read when no `--service-property` is given: upstream's
/// documented default and the spelling of its examples.
pub const DEFAULT_PROPERTIES: [&str; 2] = ["requireUniqueIdsFor", "requiresUniqueIdsFor"];

/// Which instance attribute lists the resources an instance needs ids of.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ServiceProperty {
    /// Both [`DEFAULT_PROPERTIES`]; an instance giving both needs the union.
    #[default]
    Default,
    /// This attribute only (`--service-property NAME`).
    Named(String),
}

/// What id-requirements.nix says about one instance.
#[derive(Debug, Deserialize)]
struct Evaluated {
    /// `builtins.typeOf` of the instance's value ("set", "null", ...).
    kind: String,
    /// The requirement attributes it has: a list (strings, or `{ kind }` for any other
    /// element), or `{ kind }` for a value that is not a list.
    #[serde(default)]
    properties: BTreeMap<String, Value>,
}

/// The requirements of the instances of `model`, evaluated with `params`' arguments
/// and Nix options. Instances whose value is null are left out, like instances without
/// the attribute; any other value that is not an attribute set is an error, as is a
/// requirement attribute that is not a list of strings.
pub fn requirements(
    model: &ModelSource,
    property: &ServiceProperty,
    params: &BuildParams,
) -> Result<Requirements> {
    let file = model_file(model)?;
    let nix = model::find_builder()?.with_file_name(REQUIREMENTS_NIX);
    if !nix.is_file() {
        return Err(DeployError::OutdatedNixDir { path: nix }.into());
    }
    let mut cmd = nix_command("nix-instantiate", &params.nix_options);
    cmd.args(["--eval", "--strict", "--json"])
        .arg(&nix)
        .arg("--arg")
        .arg("exprFile")
        .arg(&file);
    model::add_builder_args(&mut cmd, params);
    if let ServiceProperty::Named(name) = property {
        cmd.arg("--argstr").arg("serviceProperty").arg(name);
    }
    let shown = format!(
        "nix-instantiate --eval --strict --json {} --arg exprFile {}",
        nix.display(),
        file.display()
    );
    let text = run_eval(&mut cmd, &shown)?;
    let evaluated: BTreeMap<String, Evaluated> =
        serde_json::from_str(&text).map_err(|e| DeployError::Command {
            command: shown,
            message: format!("printed no requirements JSON: {e}"),
        })?;
    let mut out = Requirements::new();
    for (instance, value) in evaluated {
        if let Some(list) = instance_requirements(&file, &instance, value)? {
            out.insert(instance, list);
        }
    }
    Ok(out)
}

/// The resources one instance needs, `None` when it needs none.
fn instance_requirements(
    file: &Path,
    instance: &str,
    value: Evaluated,
) -> Result<Option<Vec<String>>> {
    let bad = |message: String| IdsError::Requirement {
        model: file.to_path_buf(),
        instance: instance.to_string(),
        message,
    };
    match value.kind.as_str() {
        "set" => {}
        "null" => return Ok(None),
        other => {
            return Err(bad(format!(
                "must be a derivation or an attribute set with 'pkg', got {}",
                nix_kind(other)
            )))
        }
    }
    let mut list = Vec::new();
    for (attribute, value) in value.properties {
        let not_a_list = |found: String| {
            bad(format!(
                "attribute '{attribute}' must be a list of resource names, got {found}"
            ))
        };
        let Value::Array(items) = value else {
            return Err(not_a_list(found_kind(&value)));
        };
        for item in items {
            match item {
                Value::String(name) => list.push(name),
                other => return Err(not_a_list(format!("a list holding {}", found_kind(&other)))),
            }
        }
    }
    list.sort();
    list.dedup();
    Ok((!list.is_empty()).then_some(list))
}

/// The kind of a value id-requirements.nix describes as `{ kind = typeOf v; }`.
fn found_kind(value: &Value) -> String {
    match value.get("kind").and_then(Value::as_str) {
        Some(kind) => nix_kind(kind).to_string(),
        None => kind_of(value).to_string(),
    }
}

/// `builtins.typeOf`'s name in the words of the library's messages.
fn nix_kind(type_of: &str) -> &str {
    match type_of {
        "set" => "an attribute set",
        "list" => "a list",
        "string" => "a string",
        "int" => "an integer",
        "float" => "a float",
        "bool" => "a boolean",
        "lambda" | "primop" | "primop-app" => "a function",
        "path" => "a path",
        other => other,
    }
}

/// The model's file: a processes.nix (a flake's model is not supported here).
fn model_file(model: &ModelSource) -> Result<PathBuf> {
    match model {
        ModelSource::File(path) => {
            std::fs::canonicalize(path).map_err(|e| DeployError::io("resolving", path, e).into())
        }
        ModelSource::Flake { reference, name } => Err(DeployError::IdsForFlake {
            reference: reference.clone(),
            name: name.clone(),
        }
        .into()),
    }
}

/// The JSON value of the Nix file `file` (idresources.nix, ids.nix), fully evaluated.
pub fn file_json(file: &Path, options: &NixOptions) -> Result<Value> {
    let path = std::fs::canonicalize(file).map_err(|e| DeployError::io("reading", file, e))?;
    let mut cmd = nix_command("nix-instantiate", options);
    cmd.args(["--eval", "--strict", "--json"]).arg(&path);
    let shown = format!("nix-instantiate --eval --strict --json {}", path.display());
    let text = run_eval(&mut cmd, &shown)?;
    serde_json::from_str(&text).map_err(|e| {
        DeployError::Command {
            command: shown,
            message: format!("printed no JSON: {e}"),
        }
        .into()
    })
}

/// Runs an evaluation and returns what it printed; a failure carries Nix's messages.
fn run_eval(cmd: &mut Command, shown: &str) -> Result<String> {
    let out = output_of(cmd, shown)?;
    if !out.status.success() {
        return Err(DeployError::Command {
            command: shown.to_string(),
            message: format!(
                "{}:\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim_end()
            ),
        }
        .into());
    }
    String::from_utf8(out.stdout).map_err(|e| {
        DeployError::Command {
            command: shown.to_string(),
            message: format!("printed text that is not UTF-8: {e}"),
        }
        .into()
    })
}
