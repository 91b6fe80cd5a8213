//! Where a processes model comes from ([`ModelSource`]) and what a tool's PATH operand
//! names: a prebuilt profile or a model to build ([`Operand`]).

use std::path::{Path, PathBuf};

use crate::deploy::{DeployError, Result};
use crate::tree::layout;

/// Where a processes model comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// A file evaluating to a model (processes.nix).
    File(PathBuf),
    /// The output `processes.NAME` of a flake (or `processes.SYSTEM.NAME`).
    Flake {
        /// The flake reference: a directory, or any reference Nix understands.
        reference: String,
        /// The model's name in `processes`.
        name: String,
    },
}

impl ModelSource {
    /// Parses `REF#NAME` (`NAME` defaults to `default`, `REF` to `.`).
    pub fn flake(spec: &str) -> ModelSource {
        let (reference, name) = match spec.rsplit_once('#') {
            Some((r, n)) => (r, n),
            None => (spec, ""),
        };
        ModelSource::Flake {
            reference: if reference.is_empty() { "." } else { reference }.to_string(),
            name: if name.is_empty() { "default" } else { name }.to_string(),
        }
    }
}

/// Whether `path` names a prebuilt profile (a directory with `etc/rc.d`) rather than a
/// model to build.
pub fn is_profile_dir(path: &Path) -> bool {
    path.join(layout::RC_DIR).is_dir()
}

/// What a tool's PATH operand (with its `--flake`) names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    /// A prebuilt profile directory (anything holding `etc/rc.d`).
    Profile(PathBuf),
    /// A model to build: a file, a flake directory's `processes.default`, or `--flake`.
    Model(ModelSource),
}

/// Reads the PATH operand `path` and the `--flake` source `flake` of a tool: `None` when
/// neither is given; an error for both, or for a PATH that is neither a profile
/// directory, a model file nor a flake directory.
pub fn operand(path: Option<&Path>, flake: Option<ModelSource>) -> Result<Option<Operand>> {
    let Some(path) = path else {
        return Ok(flake.map(Operand::Model));
    };
    if flake.is_some() {
        return Err(DeployError::Operand { path: None });
    }
    if is_profile_dir(path) {
        Ok(Some(Operand::Profile(path.to_path_buf())))
    } else if path.is_file() {
        Ok(Some(Operand::Model(ModelSource::File(path.to_path_buf()))))
    } else if path.join("flake.nix").is_file() {
        Ok(Some(Operand::Model(ModelSource::Flake {
            reference: path.to_string_lossy().into_owned(),
            name: "default".into(),
        })))
    } else {
        Err(DeployError::Operand {
            path: Some(path.to_path_buf()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flake_references_default_to_dot_and_default() {
        let f = |r: &str, n: &str| ModelSource::Flake {
            reference: r.into(),
            name: n.into(),
        };
        assert_eq!(ModelSource::flake(".#web"), f(".", "web"));
        assert_eq!(ModelSource::flake("/srv/flake"), f("/srv/flake", "default"));
        assert_eq!(ModelSource::flake("#web"), f(".", "web"));
        assert_eq!(ModelSource::flake("github:o/r#x"), f("github:o/r", "x"));
    }
}
