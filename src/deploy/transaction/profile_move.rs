//! The profile move that commits a switch: the generation a [`Commit`] names, and
//! making it and pointing the profile link to it.

use std::path::{Path, PathBuf};

use super::journal::Commit;
use super::settings::Settings;
use crate::deploy::model::nix::NixOptions;
use crate::deploy::profile::generations;
use crate::deploy::{DeployError, Result};

/// The generation `commit` moves the profile to, and its store path; changes nothing.
pub(super) fn commit_generation(settings: &Settings, commit: &Commit) -> Result<(u64, PathBuf)> {
    match commit {
        Commit::Set { path } => Ok((
            generations::generation_for(&settings.profile, path)?,
            path.clone(),
        )),
        Commit::SwitchGeneration { generation } => {
            let link = generations::generation_link(&settings.profile, *generation);
            let target =
                std::fs::canonicalize(&link).map_err(|e| DeployError::io("resolving", &link, e))?;
            Ok((*generation, target))
        }
    }
}

/// Makes generation `n` hold `target` (if it does not yet) and points the profile to it.
pub(super) fn move_profile(settings: &Settings, n: u64, target: &Path) -> Result<()> {
    let options: &NixOptions = &settings.nix_options;
    generations::make_generation(&settings.profile, n, target, options)?;
    generations::point_to(&settings.profile, n)
}

/// The store path `commit` moves the profile to (`None` for a generation whose link is
/// gone).
pub(super) fn commit_target(profile: &Path, commit: &Commit) -> Result<Option<PathBuf>> {
    match commit {
        Commit::Set { path } => Ok(Some(path.clone())),
        Commit::SwitchGeneration { generation } => {
            Ok(std::fs::canonicalize(generations::generation_link(profile, *generation)).ok())
        }
    }
}
