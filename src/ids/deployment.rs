//! The switch's `--assign-ids`: before a switch builds its models, the ids of every model
//! are assigned and written to the ids file it reads (next to it, unless named), so the
//! profile built has them.
//!
//! Models that share an ids file (a fleet's hosts deploying one processes.nix with
//! different `extraParams`, or `--ids` naming one file for all) are assigned together,
//! from the union of their requirements: an instance has one id wherever it runs, and
//! assigning for one host never frees the ids of another's instances. Everything is
//! evaluated and assigned before any file is written, so an error (a range too small, an
//! unknown resource) leaves every file as it was.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use clap::Args;

use super::{assign_from_files, eval, nixfile, IdsError, Requirements, Result, ServiceProperty};
use crate::deploy::model::{BuildParams, ModelSource};
use crate::deploy::DeployError;
use crate::remote::HostSpec;

/// The id resources file looked for next to a model.
pub const DEFAULT_RESOURCES: &str = "idresources.nix";

/// The ids file written next to a model.
pub const DEFAULT_IDS: &str = "ids.nix";

/// `--assign-ids` and the files it uses; meant to be flattened into the switch's options
/// (it conflicts with the switch's `--flake`).
#[derive(Args, Debug, Clone, Default)]
pub struct AssignArgs {
    /// Before building, assign unique ids (ports, uids, gids) to the instances of the
    /// model that ask for them (requireUniqueIdsFor or requiresUniqueIdsFor), keeping the
    /// ids they hold, and write them to the ids file the model reads.
    #[arg(long, conflicts_with = "flake")]
    pub assign_ids: bool,
    /// With --assign-ids: the id resources, resource names to { min; max; } [default:
    /// idresources.nix next to the model].
    #[arg(long, value_name = "FILE", requires = "assign_ids")]
    pub id_resources: Option<PathBuf>,
    /// With --assign-ids: the ids file the model reads, read and rewritten [default:
    /// ids.nix next to the model].
    #[arg(long, value_name = "FILE", requires = "assign_ids")]
    pub ids: Option<PathBuf>,
}

/// A model a switch is about to build: its file and the arguments it is built with.
#[derive(Debug, Clone)]
pub struct Model {
    /// The processes model (a processes.nix file).
    pub file: PathBuf,
    /// Its arguments and the Nix options, as the build gets them.
    pub params: BuildParams,
}

/// An ids file that assigning changed (or, with `--dry-run`, would change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The ids file.
    pub file: PathBuf,
    /// How many instances it gives ids.
    pub instances: usize,
    /// Whether it was written (false for a dry run, which leaves it as it is).
    pub written: bool,
}

impl fmt::Display for Written {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.instances;
        let instances = format!("{n} instance{}", if n == 1 { "" } else { "s" });
        if self.written {
            write!(f, "ids: wrote {} ({instances})", self.file.display())
        } else {
            write!(
                f,
                "ids: {} would change ({instances}); left as it is (--dry-run)",
                self.file.display()
            )
        }
    }
}

/// The models of one ids file, as they are gathered.
struct Group {
    /// The id resources file.
    resources: PathBuf,
    /// The union of the models' requirements.
    requirements: Requirements,
    /// The Nix options to evaluate the files with (the first model's).
    options: Vec<(String, String)>,
}

impl AssignArgs {
    /// The id resources and ids files of `model`: as given, else next to it.
    pub fn files_for(&self, model: &Path) -> (PathBuf, PathBuf) {
        let beside = |name: &str| model.with_file_name(name);
        (
            self.id_resources
                .clone()
                .unwrap_or_else(|| beside(DEFAULT_RESOURCES)),
            self.ids.clone().unwrap_or_else(|| beside(DEFAULT_IDS)),
        )
    }

    /// Assigns the ids of `models`, writing each ids file that changes unless `write`
    /// is false (a dry run); returns the files that changed (or would). Every model,
    /// resources file and previous ids file is evaluated, and every assignment made,
    /// before the first file is written.
    pub fn assign(&self, models: &[Model], write: bool) -> Result<Vec<Written>> {
        let mut groups: BTreeMap<PathBuf, Group> = BTreeMap::new();
        for model in models {
            self.add_model(&mut groups, model)?;
        }
        let mut texts = Vec::new();
        for (ids, group) in &groups {
            if !group.resources.is_file() {
                return Err(IdsError::Resources {
                    file: group.resources.clone(),
                    message: "does not exist (name the id resources with --id-resources FILE)"
                        .into(),
                });
            }
            let assignment = assign_from_files(
                &group.requirements,
                &group.resources,
                Some(ids),
                &group.options,
            )?;
            texts.push((ids, nixfile::render(&assignment), assignment.instances()));
        }
        let mut out = Vec::new();
        for (file, text, instances) in texts {
            let changed = if write {
                nixfile::write_if_changed(file, &text)?
            } else {
                std::fs::read(file).map_or(true, |old| old != text.as_bytes())
            };
            if changed {
                out.push(Written {
                    file: file.clone(),
                    instances,
                    written: write,
                });
            }
        }
        Ok(out)
    }

    /// Evaluates the requirements of `model` and adds them to the group of its ids file.
    fn add_model(&self, groups: &mut BTreeMap<PathBuf, Group>, model: &Model) -> Result<()> {
        if !model.file.is_file() {
            return Err(IdsError::NotAModel {
                path: model.file.clone(),
            });
        }
        let (resources, ids) = self.files_for(&model.file);
        let (resources, ids) = (absolute(&resources)?, absolute(&ids)?);
        let source = ModelSource::File(model.file.clone());
        let found = eval::requirements(&source, &ServiceProperty::Default, &model.params)?;
        let group = groups.entry(ids.clone()).or_insert_with(|| Group {
            resources: resources.clone(),
            requirements: Requirements::new(),
            options: model.params.nix_options.clone(),
        });
        if group.resources != resources {
            return Err(IdsError::Resources {
                file: resources,
                message: format!(
                    "the ids file {} is shared by models whose id resources differ (this \
                     one and {}); name one with --id-resources FILE",
                    ids.display(),
                    group.resources.display()
                ),
            });
        }
        for (instance, wanted) in found {
            let list = group.requirements.entry(instance).or_default();
            list.extend(wanted);
            list.sort();
            list.dedup();
        }
        Ok(())
    }
}

/// The models a deployment to `hosts` builds: each distinct model file and
/// `extraParams` once, with `params` and the host's `extraParams`.
pub fn models_of_hosts(hosts: &[HostSpec], params: &BuildParams) -> Vec<Model> {
    let mut seen = std::collections::BTreeSet::new();
    hosts
        .iter()
        .filter_map(HostSpec::model_key)
        .filter(|key| seen.insert(key.clone()))
        .map(|(file, extra)| Model {
            file,
            params: BuildParams {
                extra_params: Some(extra),
                ..params.clone()
            },
        })
        .collect()
}

/// `path` with its directory resolved (so that two names of one file are told to be
/// one, while the file itself need not exist yet).
fn absolute(path: &Path) -> Result<PathBuf> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let resolved = std::fs::canonicalize(dir)
        .map_err(|e| DeployError::io("resolving the directory", dir, e))?;
    Ok(match path.file_name() {
        Some(name) => resolved.join(name),
        None => resolved,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_files_are_next_to_the_model_unless_named() {
        let args = AssignArgs::default();
        let (resources, ids) = args.files_for(Path::new("/srv/web/processes.nix"));
        assert_eq!(resources, Path::new("/srv/web/idresources.nix"));
        assert_eq!(ids, Path::new("/srv/web/ids.nix"));
        let named = AssignArgs {
            assign_ids: true,
            id_resources: Some("res.nix".into()),
            ids: Some("ids-advanced.nix".into()),
        };
        let (resources, ids) = named.files_for(Path::new("/srv/web/processes.nix"));
        assert_eq!(resources, Path::new("res.nix"));
        assert_eq!(ids, Path::new("ids-advanced.nix"));
    }

    #[test]
    fn written_files_say_what_happened() {
        let mut w = Written {
            file: "/srv/ids.nix".into(),
            instances: 8,
            written: true,
        };
        assert_eq!(w.to_string(), "ids: wrote /srv/ids.nix (8 instances)");
        w.instances = 1;
        w.written = false;
        assert_eq!(
            w.to_string(),
            "ids: /srv/ids.nix would change (1 instance); left as it is (--dry-run)"
        );
    }

    #[test]
    fn a_fleet_assigns_each_model_and_extra_params_once() {
        let host = |name: &str, model: Option<&str>, extra: &str| HostSpec {
            processes: model.map(PathBuf::from),
            extra_params: extra.into(),
            ..HostSpec::new(name, format!("root@{name}").parse().unwrap())
        };
        let hosts = [
            host("a", Some("/m/processes.nix"), "{}"),
            host("b", Some("/m/processes.nix"), "{}"),
            host("c", Some("/m/processes.nix"), r#"{"n":4}"#),
            host("d", None, "{}"),
        ];
        let models = models_of_hosts(&hosts, &BuildParams::default());
        let got: Vec<_> = models
            .iter()
            .map(|m| (m.file.clone(), m.params.extra_params.clone().unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                (PathBuf::from("/m/processes.nix"), "{}".to_string()),
                (PathBuf::from("/m/processes.nix"), r#"{"n":4}"#.to_string()),
            ]
        );
    }

    #[test]
    fn what_is_not_a_model_file_is_refused_before_any_evaluation() {
        let dir = tempfile::tempdir().unwrap();
        let model = Model {
            file: dir.path().to_path_buf(),
            params: BuildParams::default(),
        };
        let err = AssignArgs::default().assign(&[model], true).unwrap_err();
        assert!(
            err.to_string()
                .contains("is not a processes model file (ids are assigned for a processes.nix"),
            "{err}"
        );
        assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
    }
}
