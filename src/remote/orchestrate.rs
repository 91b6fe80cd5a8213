//! What the switch and runactivity do with `--target-host` and `--hosts`: the tool's own
//! package is made here, the hosts are chosen, a deployment's models are built (here, or
//! on `--build-host`), every host runs its copy of the tool, and the reports are shown.
//! The tools (`crate::tools`) only translate their options into a [`Request`].

use std::path::{Path, PathBuf};

use super::deploy::{build_on, deploy_hosts, run_on_hosts, Deployment};
use super::fleet::{self, switch_host, HostReport, RemoteSwitch};
use super::transaction::{finish, Transaction};
use super::{own_package, read_hosts, select, Access, Echo, HostSpec, RemoteError, TargetHost};
use crate::deploy::model::nix::NixOptions;
use crate::deploy::model::{BuildParams, ModelSource};
use crate::deploy::tool_dir;
use crate::deploy::transaction::journal::Wait;

/// Where a request goes.
#[derive(Debug, Clone, Copy)]
pub enum Hosts<'a> {
    /// One host (`--target-host`).
    One(&'a str),
    /// The hosts of a fleet file (`--hosts`).
    Fleet(&'a Path),
}

/// How a deployment's profile is made for `--target-host`.
pub enum Profile<'a> {
    /// Nothing to deploy: the tool acts on the host's own generations or processes.
    None,
    /// Built here by the caller (a model, or a prebuilt profile directory).
    Here(&'a dyn Fn() -> Result<PathBuf, String>),
    /// A model built on a build host.
    OnBuildHost(&'a TargetHost, ModelSource),
}

/// One remote run of a tool of this package.
pub struct Request<'a> {
    /// The hosts.
    pub hosts: Hosts<'a>,
    /// The tool run on each host (`nixproc-sysvinit-switch`, `-runactivity`).
    pub tool: &'a str,
    /// Its arguments there (a profile, when one is deployed, comes last).
    pub args: &'a [String],
    /// How its output comes back.
    pub echo: Echo,
    /// For `--target-host`: the profile deployed. A fleet deploys when `deploys` is set,
    /// each host's model built with `params` (and its `extraParams`).
    pub profile: Profile<'a>,
    /// Whether a fleet deploys its models (else the tool acts on each host's own state).
    pub deploys: bool,
    /// The settings of the fleet's model builds.
    pub params: &'a BuildParams,
    /// Where a fleet's models are built: here, or there.
    pub build_host: Option<&'a TargetHost>,
    /// The directory of this tool's garbage-collector roots for remote runs (the tool
    /// package, the built profiles).
    pub roots: &'a Path,
    /// At most this many hosts at once.
    pub max_hosts: usize,
    /// Let hosts fetch what they lack from their substituters.
    pub use_substitutes: bool,
    /// The Nix options of the builds here.
    pub nix_options: &'a NixOptions,
    /// What a deployment does after its switches: confirmation, fleet rollback.
    pub transaction: &'a Transaction,
    /// For a fleet: take its lock on this machine first (see [`tool_dir::fleet_lock`]),
    /// waiting for another run of it or not; `None` for runs that change nothing.
    pub fleet_lock: Option<Wait>,
    /// For a fleet, `--on`: the hosts (`NAME|@TAG[,...]`, globs allowed) the run is
    /// limited to.
    pub on: Option<&'a str>,
    /// `--sudo` and the sudo password (each host adds its own `sudo` and
    /// `nixStorePath`).
    pub access: &'a Access,
}

/// Runs `request` on its hosts; one report per host, in order. An error is returned
/// only when nothing could be tried (the fleet file, the tool's package, the build for
/// `--target-host`); a host's failure is in its report.
pub fn run(request: &Request) -> Result<Vec<HostReport>, RemoteError> {
    let tool_package = own_package(&request.roots.join("tool"), request.nix_options)?;
    let switch = RemoteSwitch {
        profile: None,
        tool_package: &tool_package,
        tool: request.tool,
        args: request.args,
        echo: request.echo,
        use_substitutes: request.use_substitutes,
        access: request.access,
    };
    match request.hosts {
        Hosts::One(text) => run_on_one(request, text.parse()?, switch),
        Hosts::Fleet(file) => run_on_fleet(request, file, switch),
    }
}

/// [`run`] for `--target-host`: the profile (if the request deploys one) is built, the
/// host switched, and the transaction finished for it.
fn run_on_one(
    request: &Request,
    target: TargetHost,
    switch: RemoteSwitch,
) -> Result<Vec<HostReport>, RemoteError> {
    let built = match &request.profile {
        Profile::None => None,
        Profile::Here(build) => Some(build().map_err(|why| build_failed(&target, why))?),
        Profile::OnBuildHost(build_host, source) => {
            let root = request.roots.join("result");
            let built = build_on(build_host, source, request.params, &root);
            Some(built.map_err(|why| build_failed(&target, why))?)
        }
    };
    let host = HostSpec::new(&target.to_string(), target);
    let deployed = RemoteSwitch {
        profile: built.as_deref(),
        ..switch
    };
    let mut reports = vec![switch_host(&host, &deployed)];
    if built.is_some() {
        finish(&[host], &mut reports, &switch, request.transaction, 1);
    }
    Ok(reports)
}

/// [`run`] for `--hosts`: under the fleet's lock (for a run that changes hosts), the
/// selected hosts of `file` deploy their models, or have the tool act on them.
fn run_on_fleet(
    request: &Request,
    file: &Path,
    switch: RemoteSwitch,
) -> Result<Vec<HostReport>, RemoteError> {
    let lock = request.fleet_lock.map(|wait| {
        tool_dir::fleet_lock(file, wait, &mut |line| eprintln!("{line}")).map_err(|e| {
            RemoteError::Fleet {
                file: file.to_path_buf(),
                why: e.to_string(),
            }
        })
    });
    let _lock = lock.transpose()?;
    let mut hosts = read_hosts(file, request.nix_options)?;
    if let Some(selection) = request.on {
        hosts = select(hosts, selection)?;
    }
    if !request.deploys {
        return Ok(run_on_hosts(&hosts, request.max_hosts, &switch));
    }
    let deployment = Deployment {
        params: request.params,
        build_host: request.build_host,
        roots: request.roots,
        switch,
        max_hosts: request.max_hosts,
    };
    let mut reports = deploy_hosts(&hosts, &deployment);
    let transaction = request.transaction;
    finish(
        &hosts,
        &mut reports,
        &switch,
        transaction,
        request.max_hosts,
    );
    Ok(reports)
}

/// The model build for `target` failed.
fn build_failed(target: &TargetHost, why: String) -> RemoteError {
    RemoteError::Failed {
        host: target.to_string(),
        step: "building the profile".into(),
        detail: why,
    }
}

/// Shows the reports (a table, when `table_wanted`, or with `json` one summary line) and
/// says why the run failed, if any host failed.
pub fn report(reports: &[HostReport], json: bool, table_wanted: bool) -> Result<(), HostsFailed> {
    fleet::print_reports(reports, json, table_wanted);
    match fleet::failure(reports) {
        Some(why) => Err(HostsFailed(why)),
        None => Ok(()),
    }
}

/// Some hosts failed; their reports have been shown.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HostsFailed(pub String);
