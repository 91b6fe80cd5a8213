//! Unique numeric ids (ports, uids, gids) for the instances of a processes model, as
//! nix-processmgmt's id assigner hands them out, without Dynamic Disnix.
//!
//! A model asks for ids with a list attribute beside `pkg` (`requireUniqueIdsFor`, or
//! `requiresUniqueIdsFor` as upstream's examples spell it) naming *resources*; an
//! `idresources.nix` gives each resource its range (`{ min; max; }`); the result is an
//! `ids.nix` the model reads back (`ids.RESOURCE.INSTANCE`).
//!
//! - [`assign`] is the pure rule: ids already held are kept, ids of instances gone are
//!   freed, newcomers get the lowest free id, in instance-name order;
//! - [`parse`] reads the evaluated `idresources.nix` and `ids.nix`;
//! - [`nixfile`] writes `ids.nix` in upstream's layout;
//! - [`eval`] evaluates the model's requirements (never forcing a `pkg`) and the two
//!   files with `nix-instantiate`;
//! - [`assign_files`] and [`run`] tie them together for the tools, and [`deployment`]
//!   for the switch's `--assign-ids` (every model it is about to build).

pub mod deployment;
pub mod eval;
pub mod nixfile;
pub mod parse;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::deploy::model::{BuildParams, ModelSource};
use crate::deploy::DeployError;
use crate::error::suggestion_suffix;

pub use eval::ServiceProperty;

/// Why ids could not be assigned.
#[derive(Debug, thiserror::Error)]
pub enum IdsError {
    /// An instance requires a resource that the id resources do not define.
    #[error("instance '{instance}' requires ids of the resource '{resource}', which the id resources do not define{suggestion}")]
    UnknownResource {
        /// The instance.
        instance: String,
        /// The resource it names.
        resource: String,
        /// `" (did you mean 'x'?)"`, a list of the known resources, or empty.
        suggestion: String,
    },
    /// A resource's range holds fewer ids than instances need.
    #[error("resource '{resource}' ({min}..{max}) holds {capacity} ids, but {needed} instances need one; widen its range in the id resources")]
    RangeTooSmall {
        /// The resource.
        resource: String,
        /// Its lowest id.
        min: i64,
        /// Its highest id.
        max: i64,
        /// How many ids the range holds.
        capacity: i128,
        /// How many instances require an id of it.
        needed: usize,
    },
    /// The id resources file is malformed.
    #[error("id resources {}: {message}", file.display())]
    Resources {
        /// The file (idresources.nix).
        file: PathBuf,
        /// What is wrong, naming the resource and attribute.
        message: String,
    },
    /// The previous ids file is malformed.
    #[error("ids file {}: {message}", file.display())]
    Ids {
        /// The file (ids.nix).
        file: PathBuf,
        /// What is wrong, naming the resource and instance.
        message: String,
    },
    /// An instance's requirement attribute is not a list of resource names.
    #[error("processes model {}: instance '{instance}': {message}", model.display())]
    Requirement {
        /// The processes model.
        model: PathBuf,
        /// The instance.
        instance: String,
        /// What is wrong, naming the attribute.
        message: String,
    },
    /// The switch's `--assign-ids` was given something other than a processes model file.
    #[error("--assign-ids: {} is not a processes model file (ids are assigned for a processes.nix; a prebuilt profile or a flake has none)", path.display())]
    NotAModel {
        /// What was given.
        path: PathBuf,
    },
    /// Evaluating with Nix, reading or writing a file failed.
    #[error(transparent)]
    Deploy(#[from] DeployError),
}

/// Result type of id assignment.
pub type Result<T> = std::result::Result<T, IdsError>;

/// Where a resource's ids are unique. One machine makes no difference between the two;
/// both are accepted because upstream's resources may say either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scope {
    /// Unique across every machine (upstream's default).
    #[default]
    Global,
    /// Unique per machine.
    Machine,
}

/// A pool of numeric ids: every integer of `min..=max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource {
    /// The lowest id.
    pub min: i64,
    /// The highest id.
    pub max: i64,
    /// `scope` as given.
    pub scope: Scope,
}

impl Resource {
    /// A global resource of `min..=max`.
    pub fn new(min: i64, max: i64) -> Resource {
        Resource {
            min,
            max,
            scope: Scope::Global,
        }
    }

    /// How many ids the range holds (0 when `max < min`).
    pub fn capacity(&self) -> i128 {
        (i128::from(self.max) - i128::from(self.min) + 1).max(0)
    }

    /// Whether `id` lies in the range.
    pub fn contains(&self, id: i64) -> bool {
        (self.min..=self.max).contains(&id)
    }
}

/// The resources by name (the evaluated idresources.nix).
pub type Resources = BTreeMap<String, Resource>;

/// For each instance name, the resources it needs an id of (the model's
/// `requireUniqueIdsFor` lists). Names listed twice count once.
pub type Requirements = BTreeMap<String, Vec<String>>;

/// Ids per resource, per instance: `ids.RESOURCE.INSTANCE` of ids.nix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assignment {
    /// Resource name to (instance name to id). Every resource of the id resources has
    /// an entry, empty when no instance needs it.
    pub ids: BTreeMap<String, BTreeMap<String, i64>>,
}

impl Assignment {
    /// The id of `instance` in `resource`, if it has one.
    pub fn get(&self, resource: &str, instance: &str) -> Option<i64> {
        self.ids.get(resource)?.get(instance).copied()
    }

    /// How many instances hold an id of at least one resource.
    pub fn instances(&self) -> usize {
        self.ids
            .values()
            .flat_map(BTreeMap::keys)
            .collect::<BTreeSet<_>>()
            .len()
    }

    /// ids.nix's `lastAssignments`: the highest id assigned per resource; resources
    /// without any assignment are left out.
    pub fn last_assignments(&self) -> BTreeMap<&str, i64> {
        self.ids
            .iter()
            .filter_map(|(r, ids)| Some((r.as_str(), *ids.values().max()?)))
            .collect()
    }
}

/// Assigns ids to every instance of `requirements` from `resources`, starting from the
/// `previous` assignment.
///
/// Per resource, in instance-name order: an instance that held an id in `previous`,
/// inside the resource's range and not already kept by an instance before it, keeps it;
/// ids of instances that no longer exist or no longer need the resource are freed; every
/// instance still without one gets the lowest free id of the range. Resources of
/// `previous` that `resources` does not define are dropped. The result depends only on
/// the arguments, so assigning again from it changes nothing.
pub fn assign(
    requirements: &Requirements,
    resources: &Resources,
    previous: &Assignment,
) -> Result<Assignment> {
    let mut needs: BTreeMap<&str, BTreeSet<&str>> = resources
        .keys()
        .map(|r| (r.as_str(), BTreeSet::new()))
        .collect();
    for (instance, wanted) in requirements {
        for resource in wanted {
            let Some(set) = needs.get_mut(resource.as_str()) else {
                return Err(unknown_resource(instance, resource, resources));
            };
            set.insert(instance.as_str());
        }
    }
    let mut ids = BTreeMap::new();
    for (name, instances) in needs {
        let resource = &resources[name];
        let held = previous.ids.get(name);
        ids.insert(
            name.to_string(),
            assign_resource(name, resource, &instances, held)?,
        );
    }
    Ok(Assignment { ids })
}

/// The ids of one resource for `instances` (sorted), keeping those of `held`.
fn assign_resource(
    name: &str,
    resource: &Resource,
    instances: &BTreeSet<&str>,
    held: Option<&BTreeMap<String, i64>>,
) -> Result<BTreeMap<String, i64>> {
    if i128::try_from(instances.len()).unwrap_or(i128::MAX) > resource.capacity() {
        return Err(IdsError::RangeTooSmall {
            resource: name.to_string(),
            min: resource.min,
            max: resource.max,
            capacity: resource.capacity(),
            needed: instances.len(),
        });
    }
    let mut taken = BTreeSet::new();
    let mut out = BTreeMap::new();
    let mut waiting = Vec::new();
    for instance in instances {
        match held.and_then(|h| h.get(*instance)).copied() {
            Some(id) if resource.contains(id) && taken.insert(id) => {
                out.insert(instance.to_string(), id);
            }
            _ => waiting.push(*instance),
        }
    }
    let fresh = lowest_free(resource, &taken, waiting.len());
    out.extend(waiting.into_iter().map(str::to_string).zip(fresh));
    Ok(out)
}

/// The `count` lowest ids of `resource` not in `taken` (every one of which lies in the
/// range), in increasing order. The caller has checked that there are enough.
fn lowest_free(resource: &Resource, taken: &BTreeSet<i64>, count: usize) -> Vec<i64> {
    let mut out = Vec::with_capacity(count);
    // Every id of `taken` lies in the range, so the next one is never below `next`.
    let mut used = taken.iter().map(|u| i128::from(*u)).peekable();
    // i128, so that stepping past an id of i64::MAX cannot overflow.
    let mut next = i128::from(resource.min);
    while out.len() < count && next <= i128::from(resource.max) {
        if used.peek() == Some(&next) {
            used.next();
        } else if let Ok(id) = i64::try_from(next) {
            out.push(id);
        }
        next += 1;
    }
    out
}

/// The error for `instance` requiring the undefined `resource`.
fn unknown_resource(instance: &str, resource: &str, resources: &Resources) -> IdsError {
    let known: Vec<&str> = resources.keys().map(String::as_str).collect();
    let mut suggestion = suggestion_suffix(resource, &known);
    if suggestion.is_empty() {
        suggestion = if known.is_empty() {
            " (it defines none)".to_string()
        } else {
            format!(" (it defines: {})", known.join(", "))
        };
    }
    IdsError::UnknownResource {
        instance: instance.to_string(),
        resource: resource.to_string(),
        suggestion,
    }
}

/// What [`run`] evaluates: the model, the resources, the previous ids, and how.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    /// The processes model (a processes.nix file).
    pub model: &'a ModelSource,
    /// The id resources file (idresources.nix).
    pub resources_file: &'a Path,
    /// The previous ids file (ids.nix); read when given and present.
    pub ids_file: Option<&'a Path>,
    /// Which instance attribute lists the resources.
    pub property: ServiceProperty,
    /// The model's arguments and the Nix options, as a deployment passes them.
    pub params: &'a BuildParams,
}

/// Evaluates the model's requirements, the resources and the previous ids, and assigns.
pub fn run(inputs: &Inputs) -> Result<Assignment> {
    let requirements = eval::requirements(inputs.model, &inputs.property, inputs.params)?;
    let options = &inputs.params.nix_options;
    assign_from_files(
        &requirements,
        inputs.resources_file,
        inputs.ids_file,
        options,
    )
}

/// Assigns ids for `requirements` from the id resources file `resources_file`, starting
/// from the ids file `ids_file` when one is given and exists; both are evaluated with
/// the Nix options `options`.
pub fn assign_from_files(
    requirements: &Requirements,
    resources_file: &Path,
    ids_file: Option<&Path>,
    options: &crate::deploy::model::nix::NixOptions,
) -> Result<Assignment> {
    let resources_json = eval::file_json(resources_file, options)?;
    let resources = parse::resources(resources_file, &resources_json)?;
    let previous = match ids_file {
        Some(file) if file.exists() => parse::ids(file, &eval::file_json(file, options)?)?,
        _ => Assignment::default(),
    };
    assign(requirements, &resources, &previous)
}

/// Assigns ids for `model` from `resources_file`, starting from `ids_file` when it
/// exists, and writes the result to `ids_file` (atomically; not at all when its bytes
/// would not change). The model is evaluated with `params` (its arguments, as the switch
/// builds it) and the default requirement attributes. Returns whether the file changed.
pub fn assign_files(
    model: &ModelSource,
    resources_file: &Path,
    ids_file: &Path,
    params: &BuildParams,
) -> Result<bool> {
    let assignment = run(&Inputs {
        model,
        resources_file,
        ids_file: Some(ids_file),
        property: ServiceProperty::Default,
        params,
    })?;
    nixfile::write_if_changed(ids_file, &nixfile::render(&assignment))
}

#[cfg(test)]
mod tests;
