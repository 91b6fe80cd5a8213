//! Nix profile generations, in `nix-env`'s layout.
//!
//! A deployment is a generation of a Nix profile whose content is the profile tree. The
//! layout is Nix's own: `NAME -> NAME-N-link -> /nix/store/...`, the generation links
//! next to the profile link, so the previous deployment stays in the store for rollbacks
//! until its generation is deleted, and `nix-env -p` lists, switches and deletes them.
//!
//! The tool moves the profile link itself, in steps a switch journals before taking:
//! [`generation_for`] picks the generation, [`make_generation`] makes its link (a
//! garbage-collector root, registered by `nix-store --add-root` as `nix-env` does), then
//! [`point_to`] replaces the profile link with one atomic `rename`. A kill at any instant leaves the link at the old or at the
//! new generation, never in between, and no child process that could still move it.

use crate::deploy::model::nix::{nix_command, NixOptions};
use crate::deploy::test_hook_point;
use crate::deploy::{run_capture, DeployError, Result};
use crate::tree::layout;
use std::fs;
use std::path::{Path, PathBuf};

/// Where Nix keeps profiles, as nix-processmgmt's tools find it: `$NIX_USER_PROFILE_DIR`
/// when set, else `$NIX_STATE_DIR/profiles` (`NIX_STATE_DIR` is `/nix/var/nix` unless
/// set); for a user other than root without `NIX_USER_PROFILE_DIR`, Nix's per-user
/// directory `$NIX_STATE_DIR/profiles/per-user/USER`.
pub fn nix_profiles_dir() -> PathBuf {
    if let Some(dir) = non_empty_env("NIX_USER_PROFILE_DIR") {
        return PathBuf::from(dir);
    }
    let state = non_empty_env("NIX_STATE_DIR").unwrap_or_else(|| "/nix/var/nix".into());
    let profiles = PathBuf::from(state).join("profiles");
    match user_name() {
        None => profiles,
        Some(user) => profiles.join("per-user").join(user),
    }
}

/// The default directory for this tool's profile links: `nixproc-sysvinit` in
/// [`nix_profiles_dir`], so `/nix/var/nix/profiles/nixproc-sysvinit` for root and
/// `/nix/var/nix/profiles/per-user/USER/nixproc-sysvinit` for anybody else by default.
pub fn default_profiles_dir() -> PathBuf {
    nix_profiles_dir().join("nixproc-sysvinit")
}

/// The profile link of `profile` (a name or a path) when no profiles directory is given:
/// under [`default_profiles_dir`], unless no link of that name is there and
/// nix-processmgmt's link of that name (`profile` right in [`nix_profiles_dir`], e.g.
/// `/nix/var/nix/profiles/processes`) holds a deployment (a profile with `etc/rc.d`):
/// then that one, so a deployment made with nix-processmgmt's tools is found, and
/// carried on where it is (its generations stay visible to those tools).
pub fn default_profile_link(profile: &str) -> PathBuf {
    let link = profile_path(profile, &default_profiles_dir());
    if profile.contains('/') || fs::symlink_metadata(&link).is_ok() {
        return link;
    }
    let upstream = profile_path(profile, &nix_profiles_dir());
    if upstream.join(layout::RC_DIR).is_dir() {
        upstream
    } else {
        link
    }
}

/// `None` for root, else the user's name (`$USER`, `$LOGNAME` or the uid).
fn user_name() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    (uid != 0).then(|| {
        std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| uid.to_string())
    })
}

/// An environment variable's value, `None` when unset or empty.
fn non_empty_env(var: &str) -> Option<std::ffi::OsString> {
    std::env::var_os(var).filter(|v| !v.is_empty())
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

/// `nix-env -p PROFILE` with the `--option`s, for the caller to add the operation.
fn nix_env(profile: &Path, options: &NixOptions) -> std::process::Command {
    let mut cmd = nix_command("nix-env", options);
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

/// The numbers of every `PROFILE-N-link` next to the profile link, dangling ones
/// included, in ascending order.
fn generation_numbers(profile: &Path) -> Result<Vec<u64>> {
    let (Some(dir), Some(base)) = (profile.parent(), profile.file_name()) else {
        return Ok(Vec::new());
    };
    let prefix = format!("{}-", base.to_string_lossy());
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(DeployError::io("reading", dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| DeployError::io("reading", dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(n) = name
            .strip_prefix(&prefix)
            .and_then(|r| r.strip_suffix("-link"))
            .and_then(|n| n.parse::<u64>().ok())
        {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// The generation the profile moves to for `path` (a store path): the last one when it
/// already holds `path` (as `nix-env --set` does), else a new number. Changes nothing.
pub fn generation_for(profile: &Path, path: &Path) -> Result<u64> {
    let last = generation_numbers(profile)?.last().copied();
    if let Some(n) = last {
        if fs::read_link(generation_link(profile, n)).ok().as_deref() == Some(path) {
            return Ok(n);
        }
    }
    Ok(last.map_or(1, |n| n + 1))
}

/// Makes the link of generation `n` point to `path` (a store path), registered as a
/// garbage-collector root; nothing to do when it already does. The profile link itself
/// is not touched (see [`point_to`]).
pub fn make_generation(profile: &Path, n: u64, path: &Path, options: &NixOptions) -> Result<()> {
    ensure_parent(profile)?;
    let link = generation_link(profile, n);
    if fs::read_link(&link).ok().as_deref() == Some(path) {
        return Ok(());
    }
    // `--add-root` makes LINK -> PATH and, for a link outside Nix's own directories,
    // the indirect root that keeps PATH alive while LINK exists.
    run_capture(
        nix_command("nix-store", options)
            .arg("--realise")
            .arg(path)
            .arg("--add-root")
            .arg(&link)
            .arg("--indirect"),
    )?;
    test_hook_point("generation-linked");
    Ok(())
}

/// Points the profile link to generation `n` (`NAME -> NAME-N-link`) with one atomic
/// rename, and makes the change durable.
pub fn point_to(profile: &Path, n: u64) -> Result<()> {
    let link = generation_link(profile, n);
    // A generation whose store path is gone is no place to move to.
    fs::canonicalize(&link).map_err(|e| DeployError::io("resolving", &link, e))?;
    let (Some(dir), Some(name)) = (profile.parent(), link.file_name()) else {
        return Err(DeployError::Profile {
            path: profile.to_path_buf(),
            message: "a profile link needs a parent directory and a name".into(),
        });
    };
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        profile
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(name, &tmp).map_err(|e| DeployError::io("creating", &tmp, e))?;
    if let Err(e) = fs::rename(&tmp, profile) {
        let _ = fs::remove_file(&tmp);
        return Err(DeployError::io("replacing", profile, e));
    }
    test_hook_point("profile-renamed");
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Makes `path` (a store path) the profile's current generation (see
/// [`generation_for`], [`make_generation`] and [`point_to`]).
pub fn set(profile: &Path, path: &Path, options: &NixOptions) -> Result<()> {
    let n = generation_for(profile, path)?;
    make_generation(profile, n, path, options)?;
    point_to(profile, n)
}

/// Points the profile to generation `n`.
pub fn switch_generation(profile: &Path, n: u64) -> Result<()> {
    point_to(profile, n)
}

/// `nix-env --list-generations` output, as nix-env prints it.
pub fn list_text(profile: &Path, options: &NixOptions) -> Result<String> {
    if fs::symlink_metadata(profile).is_err() {
        return Ok(String::new());
    }
    run_capture(nix_env(profile, options).arg("--list-generations"))
}

/// `nix-env --delete-generations SPEC` (`old`, `+N`, `Nd`, or generation numbers).
pub fn delete(profile: &Path, spec: &str, options: &NixOptions) -> Result<()> {
    let mut cmd = nix_env(profile, options);
    cmd.arg("--delete-generations");
    cmd.args(spec.split_whitespace());
    run_capture(&mut cmd).map(|_| ())
}

/// Removes every generation link (dangling ones too) and the profile link itself.
pub fn delete_all(profile: &Path) -> Result<()> {
    for n in generation_numbers(profile)? {
        let link = generation_link(profile, n);
        match fs::remove_file(&link) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(DeployError::io("removing", &link, e))
            }
            _ => {}
        }
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
pub fn add_to_store(dir: &Path, options: &NixOptions) -> Result<PathBuf> {
    let dir = fs::canonicalize(dir).map_err(|e| DeployError::io("resolving", dir, e))?;
    if dir.starts_with(store_dir())
        && dir.components().count() == store_dir().components().count() + 1
    {
        return Ok(dir);
    }
    let out = run_capture(nix_command("nix-store", options).arg("--add").arg(&dir))?;
    Ok(PathBuf::from(out.trim()))
}

/// The Nix store directory (`NIX_STORE_DIR` or `/nix/store`).
pub fn store_dir() -> PathBuf {
    std::env::var_os("NIX_STORE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/nix/store"))
}

/// A store path holding an empty profile (no processes), for undeploying.
pub fn empty_profile(scratch: &Path, options: &NixOptions) -> Result<PathBuf> {
    let dir = scratch.join("nixproc-sysvinit-empty-profile");
    fs::create_dir_all(dir.join(layout::RC_DIR))
        .map_err(|e| DeployError::io("creating", &dir, e))?;
    add_to_store(&dir, options)
}
