//! Nix profile generations, through `nix-env -p PROFILE`.
//!
//! A deployment is a generation of a Nix profile whose content is the profile tree. The
//! generation links sit next to the profile link (`PROFILE-N-link`), so the previous
//! deployment stays in the store for rollbacks until its generation is deleted.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{run_capture, DeployError, Result};

/// The default directory for profile links: `/nix/var/nix/profiles/nixproc-sysvinit` for
/// root, `/nix/var/nix/profiles/per-user/USER/nixproc-sysvinit` for anybody else.
pub fn default_profiles_dir() -> PathBuf {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    if uid == 0 {
        PathBuf::from("/nix/var/nix/profiles/nixproc-sysvinit")
    } else {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| uid.to_string());
        PathBuf::from(format!(
            "/nix/var/nix/profiles/per-user/{user}/nixproc-sysvinit"
        ))
    }
}

/// Resolves a `--profile` value: a name becomes `DIR/NAME` under `profiles_dir`, anything
/// containing a `/` is taken as the profile link path itself.
pub fn profile_path(profile: &str, profiles_dir: &Path) -> PathBuf {
    if profile.contains('/') {
        PathBuf::from(profile)
    } else {
        profiles_dir.join(profile)
    }
}

/// The store path the profile currently points to, `None` when nothing is deployed.
pub fn current(profile: &Path) -> Result<Option<PathBuf>> {
    match fs::symlink_metadata(profile) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(DeployError::io("reading", profile, e)),
        Ok(_) => {}
    }
    fs::canonicalize(profile)
        .map(Some)
        .map_err(|e| DeployError::io("resolving", profile, e))
}

/// One generation of a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    /// Its number.
    pub number: u64,
    /// The store path it points to.
    pub path: PathBuf,
    /// Whether the profile currently points to it.
    pub current: bool,
}

/// Lists the generations by reading the `PROFILE-N-link` links, oldest first.
pub fn list(profile: &Path) -> Result<Vec<Generation>> {
    let (Some(dir), Some(base)) = (profile.parent(), profile.file_name()) else {
        return Ok(Vec::new());
    };
    let base = base.to_string_lossy();
    let current_link = fs::read_link(profile).ok();
    let mut out = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(DeployError::io("reading", dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| DeployError::io("reading", dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(number) = name
            .strip_prefix(&format!("{base}-"))
            .and_then(|r| r.strip_suffix("-link"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        let link = dir.join(&name);
        let Ok(path) = fs::canonicalize(&link) else {
            continue;
        };
        let current = current_link
            .as_ref()
            .map(|c| c.file_name() == Some(std::ffi::OsStr::new(&name)))
            .unwrap_or(false);
        out.push(Generation {
            number,
            path,
            current,
        });
    }
    out.sort_by_key(|g| g.number);
    Ok(out)
}

/// `nix-env -p PROFILE`, for the caller to add the operation.
fn nix_env(profile: &Path) -> Command {
    let mut cmd = Command::new("nix-env");
    cmd.arg("-p").arg(profile);
    cmd
}

/// Creates the directory the profile link lives in.
fn ensure_parent(profile: &Path) -> Result<()> {
    if let Some(dir) = profile.parent() {
        fs::create_dir_all(dir).map_err(|e| DeployError::io("creating", dir, e))?;
    }
    Ok(())
}

/// Makes `path` (a store path) the profile's new generation.
pub fn set(profile: &Path, path: &Path) -> Result<()> {
    ensure_parent(profile)?;
    run_capture(nix_env(profile).arg("--set").arg(path)).map(|_| ())
}

/// Points the profile to generation `n`.
pub fn switch_generation(profile: &Path, n: u64) -> Result<()> {
    run_capture(
        nix_env(profile)
            .arg("--switch-generation")
            .arg(n.to_string()),
    )
    .map(|_| ())
}

/// `nix-env --list-generations` output, as nix-env prints it.
pub fn list_text(profile: &Path) -> Result<String> {
    if fs::symlink_metadata(profile).is_err() {
        return Ok(String::new());
    }
    run_capture(nix_env(profile).arg("--list-generations"))
}

/// `nix-env --delete-generations SPEC` (`old`, `+N`, `Nd`, or generation numbers).
pub fn delete(profile: &Path, spec: &str) -> Result<()> {
    let mut cmd = nix_env(profile);
    cmd.arg("--delete-generations");
    cmd.args(spec.split_whitespace());
    run_capture(&mut cmd).map(|_| ())
}

/// Removes every generation link and the profile link itself.
pub fn delete_all(profile: &Path) -> Result<()> {
    for g in list(profile)? {
        let link = generation_link(profile, g.number);
        fs::remove_file(&link).map_err(|e| DeployError::io("removing", &link, e))?;
    }
    match fs::remove_file(profile) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(DeployError::io("removing", profile, e))
        }
        _ => Ok(()),
    }
}

/// The link of generation `n` (`PROFILE-N-link`).
pub fn generation_link(profile: &Path, n: u64) -> PathBuf {
    let mut s = profile.as_os_str().to_owned();
    s.push(format!("-{n}-link"));
    PathBuf::from(s)
}

/// Copies a directory into the Nix store (`nix-store --add`) and returns its store path;
/// a path already in the store is returned as it is.
pub fn add_to_store(dir: &Path) -> Result<PathBuf> {
    let dir = fs::canonicalize(dir).map_err(|e| DeployError::io("resolving", dir, e))?;
    if dir.starts_with(store_dir())
        && dir.components().count() == store_dir().components().count() + 1
    {
        return Ok(dir);
    }
    let out = run_capture(Command::new("nix-store").arg("--add").arg(&dir))?;
    Ok(PathBuf::from(out.trim()))
}

/// The Nix store directory (`NIX_STORE_DIR` or `/nix/store`).
pub fn store_dir() -> PathBuf {
    std::env::var_os("NIX_STORE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/nix/store"))
}

/// A store path holding an empty profile (no processes), for undeploying.
pub fn empty_profile(scratch: &Path) -> Result<PathBuf> {
    let dir = scratch.join("nixproc-sysvinit-empty-profile");
    fs::create_dir_all(dir.join("etc/rc.d")).map_err(|e| DeployError::io("creating", &dir, e))?;
    add_to_store(&dir)
}
