//! Reading the secrets' sources on the deploying machine: those of a profile, or those
//! the manifests of a profile directory declare.

use std::io::Read;
use std::path::Path;

use super::{declared, Contents, Payload, SecretError};
use crate::deploy::profile::{Process, Profile};
use crate::tree::layout::{MANIFEST_DIR, MANIFEST_EXTENSION};
use crate::tree::manifest::Manifest;

/// Reads the source of every secret of `profile` on this machine.
pub fn read_sources(profile: &Profile) -> Result<Payload, SecretError> {
    let mut payload = Payload::new();
    for (process, secret) in declared(profile) {
        let bytes = read_source(&secret.source).map_err(|error| SecretError::Source {
            process: process.to_string(),
            name: secret.name.clone(),
            source_path: secret.source.clone(),
            error,
        })?;
        payload
            .entry(process.to_string())
            .or_default()
            .insert(secret.name.clone(), Contents::new(bytes));
    }
    Ok(payload)
}

/// Reads, on this machine, the source of every secret that a manifest of the profile
/// directory `root` declares, whatever its runlevels: what a deploying machine sends to
/// a host, whose switch takes the ones of its runlevel.
pub fn read_profile_sources(root: &Path) -> Result<Payload, SecretError> {
    let dir = root.join(MANIFEST_DIR);
    let manifest_error = |path: &Path, why: String| SecretError::Manifest {
        path: path.to_path_buf(),
        why,
    };
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Payload::new()),
        Err(e) => return Err(manifest_error(&dir, e.to_string())),
    };
    let mut profile = Profile::default();
    for entry in entries {
        let path = entry
            .map_err(|e| manifest_error(&dir, e.to_string()))?
            .path();
        if path.extension().and_then(|e| e.to_str()) != Some(MANIFEST_EXTENSION) {
            continue;
        }
        let text =
            std::fs::read_to_string(&path).map_err(|e| manifest_error(&path, e.to_string()))?;
        let manifest =
            Manifest::from_json(&text).map_err(|e| manifest_error(&path, e.to_string()))?;
        if manifest.secrets.is_empty() {
            continue;
        }
        let process = Process {
            name: manifest.name.clone(),
            secrets: manifest.secrets,
            ..Process::default()
        };
        profile.processes.insert(manifest.name, process);
    }
    read_sources(&profile)
}

/// The bytes of a regular file (a FIFO or a device is refused, not waited on).
fn read_source(path: &str) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}
