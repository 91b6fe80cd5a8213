//! Reading the evaluated id resources (idresources.nix) and a previous assignment
//! (ids.nix), both as the JSON `nix-instantiate --eval --strict --json` prints.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};

use super::{Assignment, IdsError, Resource, Resources, Result, Scope};
use crate::error::{kind_of, suggestion_suffix};

/// The attributes a resource may have.
const RESOURCE_ATTRIBUTES: [&str; 3] = ["min", "max", "scope"];

/// The values of a resource's `scope`.
const SCOPES: [&str; 2] = ["global", "machine"];

/// The attributes of an ids file.
const IDS_ATTRIBUTES: [&str; 2] = ["ids", "lastAssignments"];

/// The resources of `json`, the evaluated id resources file `file`: an attribute set of
/// resource names to `{ min; max; scope ? "global"; }`, integers with `min <= max`.
pub fn resources(file: &Path, json: &Value) -> Result<Resources> {
    let bad = |message: String| IdsError::Resources {
        file: file.to_path_buf(),
        message,
    };
    let Value::Object(all) = json else {
        return Err(bad(format!(
            "must be an attribute set of resources, got {}",
            kind_of(json)
        )));
    };
    let mut out = BTreeMap::new();
    for (name, value) in all {
        out.insert(name.clone(), resource(name, value).map_err(bad)?);
    }
    Ok(out)
}

/// One resource `name`; the error message names it and the attribute.
fn resource(name: &str, value: &Value) -> std::result::Result<Resource, String> {
    let Value::Object(attrs) = value else {
        return Err(format!(
            "resource '{name}' must be an attribute set {{ min; max; }}, got {}",
            kind_of(value)
        ));
    };
    if let Some(key) = attrs
        .keys()
        .find(|k| !RESOURCE_ATTRIBUTES.contains(&k.as_str()))
    {
        return Err(format!(
            "resource '{name}': unknown attribute '{key}'{}; a resource has min, max and scope",
            suggestion_suffix(key, &RESOURCE_ATTRIBUTES)
        ));
    }
    let bound = |key: &str| match attrs.get(key) {
        None => Err(format!("resource '{name}': attribute '{key}' is missing")),
        Some(v) => v.as_i64().ok_or_else(|| {
            format!(
                "resource '{name}': attribute '{key}' must be an integer, got {}",
                kind_of(v)
            )
        }),
    };
    let (min, max) = (bound("min")?, bound("max")?);
    if min > max {
        return Err(format!(
            "resource '{name}': min ({min}) is greater than max ({max})"
        ));
    }
    Ok(Resource {
        min,
        max,
        scope: scope(name, attrs)?,
    })
}

/// The `scope` of resource `name`.
fn scope(name: &str, attrs: &Map<String, Value>) -> std::result::Result<Scope, String> {
    match attrs.get("scope") {
        None => Ok(Scope::Global),
        Some(Value::String(s)) if s == "global" => Ok(Scope::Global),
        Some(Value::String(s)) if s == "machine" => Ok(Scope::Machine),
        Some(Value::String(s)) => Err(format!(
            "resource '{name}': scope '{s}' is neither \"global\" nor \"machine\"{}",
            suggestion_suffix(s, &SCOPES)
        )),
        Some(v) => Err(format!(
            "resource '{name}': attribute 'scope' must be a string, got {}",
            kind_of(v)
        )),
    }
}

/// The assignment of `json`, the evaluated ids file `file`:
/// `{ ids = { RESOURCE = { INSTANCE = ID; }; }; lastAssignments = ...; }`. Both
/// attributes are optional (a hand-written file may have only `ids`); `lastAssignments`
/// is recomputed from the ids, so its value is not read.
pub fn ids(file: &Path, json: &Value) -> Result<Assignment> {
    let bad = |message: String| IdsError::Ids {
        file: file.to_path_buf(),
        message,
    };
    let Value::Object(top) = json else {
        return Err(bad(format!(
            "must be an attribute set {{ ids = ...; }}, got {}",
            kind_of(json)
        )));
    };
    if let Some(key) = top.keys().find(|k| !IDS_ATTRIBUTES.contains(&k.as_str())) {
        return Err(bad(format!(
            "unknown attribute '{key}'{}; an ids file has ids and lastAssignments",
            suggestion_suffix(key, &IDS_ATTRIBUTES)
        )));
    }
    let mut out = Assignment::default();
    let Some(all) = top.get("ids") else {
        return Ok(out);
    };
    let Value::Object(all) = all else {
        return Err(bad(format!(
            "'ids' must be an attribute set of resources, got {}",
            kind_of(all)
        )));
    };
    for (resource, value) in all {
        out.ids.insert(
            resource.clone(),
            resource_ids(resource, value).map_err(bad)?,
        );
    }
    Ok(out)
}

/// The ids of one resource of an ids file.
fn resource_ids(
    resource: &str,
    value: &Value,
) -> std::result::Result<BTreeMap<String, i64>, String> {
    let Value::Object(entries) = value else {
        return Err(format!(
            "ids.{resource} must be an attribute set of instances to ids, got {}",
            kind_of(value)
        ));
    };
    entries
        .iter()
        .map(|(instance, id)| match id.as_i64() {
            Some(id) => Ok((instance.clone(), id)),
            None => Err(format!(
                "ids.{resource}.{instance} must be an integer, got {}",
                kind_of(id)
            )),
        })
        .collect()
}
