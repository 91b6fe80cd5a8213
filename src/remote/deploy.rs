//! A deployment to hosts: build each distinct model once, here, then switch every host
//! to its profile in parallel (see [`super::fleet`]). A model that does not build fails
//! only the hosts that use it; nothing is copied to or changed on them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::fleet::{for_each_host, switch_host, HostReport, RemoteSwitch};
use super::run::Echo;
use super::{HostSpec, RemoteError};
use crate::deploy::model::{self, BuildParams, ModelSource};

/// How the hosts are switched.
pub struct Deployment<'a> {
    /// The build settings; each host's `extraParams` replaces `extra_params`.
    pub params: &'a BuildParams,
    /// Where the garbage-collector roots of the built profiles go (one link per model).
    pub roots: &'a Path,
    /// The package holding the switch tool, copied to every host.
    pub tool_package: &'a Path,
    /// The switch tool's arguments on the hosts (before the profile).
    pub switch_args: &'a [String],
    /// How the hosts' output comes back.
    pub echo: Echo,
    /// At most this many hosts at once.
    pub max_hosts: usize,
    /// Extra `nix-copy-closure` arguments.
    pub copy_args: &'a [String],
}

/// Builds the models of `hosts` (each distinct model and `extraParams` once) and
/// switches every host to its profile; one report per host, in the order given.
pub fn deploy_hosts(hosts: &[HostSpec], deployment: &Deployment) -> Vec<HostReport> {
    let profiles = build_models(hosts, deployment.params, deployment.roots);
    for_each_host(hosts, deployment.max_hosts, |host| {
        let profile = match host.model_key().and_then(|key| profiles.get(&key)) {
            Some(Ok(profile)) => profile,
            Some(Err(why)) => return failed(host, "building its model", why.clone()),
            None => return failed(host, "deploying", "it has no processes model".into()),
        };
        switch_host(
            &host.name,
            &host.target,
            &RemoteSwitch {
                profile: Some(profile),
                tool_package: deployment.tool_package,
                tool: "nixproc-sysvinit-switch",
                args: deployment.switch_args,
                echo: deployment.echo,
                copy_args: deployment.copy_args,
            },
        )
    })
}

/// Runs a tool of the package on every host without a profile (a rollback, a listing,
/// an activity); one report per host.
pub fn run_on_hosts(
    hosts: &[HostSpec],
    max_hosts: usize,
    switch: &RemoteSwitch,
) -> Vec<HostReport> {
    for_each_host(hosts, max_hosts, |host| {
        switch_host(&host.name, &host.target, switch)
    })
}

/// The profile of every distinct model of `hosts`, or why it did not build.
fn build_models(
    hosts: &[HostSpec],
    params: &BuildParams,
    roots: &Path,
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
            ..params.clone()
        };
        // One root per model: fleets deploying at once do not take each other's.
        let link = roots.join(format!("model-{:016x}", stable_hash(&key)));
        let result = model::build(&ModelSource::File(file.clone()), &params, &link)
            .map_err(|e| format!("{}: {}", file.display(), nix_error(&e.to_string())));
        built.insert(key, result);
    }
    built
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
    }
}
