//! A deployment to hosts: build each distinct model once, here, then switch every host
//! to its profile in parallel (see [`super::fleet`]). A model that does not build fails
//! only the hosts that use it; nothing is copied to or changed on them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::fleet::{for_each_host, switch_host, HostReport, RemoteSwitch};
use super::ssh::Connection;
use super::{HostSpec, RemoteError, TargetHost};
use crate::deploy::model::nix::nix_command;
use crate::deploy::model::{self, BuildParams, ModelSource};

/// How the hosts are switched.
pub struct Deployment<'a> {
    /// The build settings; each host's `extraParams` replaces `extra_params`.
    pub params: &'a BuildParams,
    /// Where the profiles are built: here, or on this host (`--build-host`).
    pub build_host: Option<&'a TargetHost>,
    /// Where the garbage-collector roots of the built profiles go (one link per model).
    pub roots: &'a Path,
    /// How each host is switched (its `profile` is set per host).
    pub switch: RemoteSwitch<'a>,
    /// At most this many hosts at once.
    pub max_hosts: usize,
}

/// Builds the models of `hosts` (each distinct model and `extraParams` once) and
/// switches every host to its profile; one report per host, in the order given.
pub fn deploy_hosts(hosts: &[HostSpec], deployment: &Deployment) -> Vec<HostReport> {
    let profiles = build_models(hosts, deployment);
    for_each_host(hosts, deployment.max_hosts, |host| {
        let profile = match host.model_key().and_then(|key| profiles.get(&key)) {
            Some(Ok(profile)) => profile,
            Some(Err(why)) => return failed(host, "building its model", why.clone()),
            None => return failed(host, "deploying", "it has no processes model".into()),
        };
        let switch = RemoteSwitch {
            profile: Some(profile),
            ..deployment.switch
        };
        switch_host(host, &switch)
    })
}

/// Runs a tool of the package on every host without a profile (a rollback, a listing,
/// an activity); one report per host.
pub fn run_on_hosts(
    hosts: &[HostSpec],
    max_hosts: usize,
    switch: &RemoteSwitch,
) -> Vec<HostReport> {
    for_each_host(hosts, max_hosts, |host| switch_host(host, switch))
}

/// The profile of every distinct model of `hosts`, or why it did not build.
fn build_models(
    hosts: &[HostSpec],
    deployment: &Deployment,
) -> BTreeMap<(PathBuf, String), Result<PathBuf, String>> {
    let mut built = BTreeMap::new();
    for key in hosts.iter().filter_map(HostSpec::model_key) {
        if built.contains_key(&key) {
            continue;
        }
        let (file, extra) = &key;
        // Nix's messages become the host's report instead of interleaving with the
        // other hosts' progress.
        let params = BuildParams {
            extra_params: Some(extra.clone()),
            quiet: true,
            ..deployment.params.clone()
        };
        // One root per model: fleets deploying at once do not take each other's.
        let link = deployment
            .roots
            .join(format!("model-{:016x}", stable_hash(&key)));
        let source = ModelSource::File(file.clone());
        let result = match deployment.build_host {
            None => model::build(&source, &params, &link).map_err(|e| e.to_string()),
            Some(host) => build_on(host, &source, &params, &link),
        }
        .map_err(|e| format!("{}: {}", file.display(), nix_error(&e)));
        built.insert(key, result);
    }
    built
}

/// Builds `source` on `build_host` (as `nixos-rebuild --build-host` does): the
/// derivation is made here, copied there and built there, and the result is copied back
/// here and kept by the garbage-collector root `out_link`.
pub fn build_on(
    build_host: &TargetHost,
    source: &ModelSource,
    params: &BuildParams,
    out_link: &Path,
) -> Result<PathBuf, String> {
    let scratch = out_link.with_extension("scratch");
    let drv = model::instantiate(source, params, &scratch).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&scratch);
    let drv = drv.to_string_lossy().into_owned();
    let connection = Connection::new(build_host);
    let remote = (|| {
        connection.probe()?;
        connection.copy_closure(&[&drv], false)?;
        let out = connection.output(&["nix-store", "--realise", &drv], "building")?;
        let path = out.lines().last().unwrap_or("").trim().to_string();
        connection.copy_closure_here(&[&path])?;
        Ok::<_, RemoteError>(path)
    })()
    .map_err(|e| format!("on the build host: {e}"))?;
    let mut root = nix_command("nix-store", &params.nix_options);
    root.args(["--realise", "--add-root"])
        .arg(out_link)
        .args(["--indirect", &remote]);
    let output = root
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run nix-store: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "keeping {remote}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(PathBuf::from(remote))
}

/// A hash of `value` that is the same in every run of this build of the tool (for file
/// names).
fn stable_hash(value: &impl std::hash::Hash) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    BuildHasherDefault::<DefaultHasher>::default().hash_one(value)
}

/// The part of a failed build's message that Nix wrote, from its first `error:` (the
/// whole message when there is none).
fn nix_error(message: &str) -> &str {
    message
        .find("error:")
        .map_or(message, |start| message[start..].trim_end())
}

/// A report of `host` failing at `step` before anything was done on it.
fn failed(host: &HostSpec, step: &str, detail: String) -> HostReport {
    HostReport {
        host: host.name.clone(),
        outcome: Err(RemoteError::Failed {
            host: host.target.to_string(),
            step: step.to_string(),
            detail,
        }),
        ended: None,
    }
}
