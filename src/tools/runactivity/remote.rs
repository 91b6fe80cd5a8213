//! An activity with `--target-host` / `--hosts`: it runs on each host's deployed profile,
//! by the host's own copy of the tool; its output comes back prefixed with the host.

use anyhow::{anyhow, Result};

use super::{Activity, Options};
use crate::deploy::model::BuildParams;
use crate::remote::transaction::Transaction;
use crate::remote::{orchestrate, Echo};

/// Carries out `activity` on the hosts `options` name; whether it succeeded on all.
pub(super) fn run(options: &Options, activity: &Activity) -> Result<bool> {
    if options.path(activity)?.is_some() || options.model.flake.is_some() {
        return Err(anyhow!(
            "with --target-host or --hosts the activity runs on the profile deployed on each host: give no PATH or --flake"
        ));
    }
    let hosts = match (&options.remote.target_host, &options.remote.hosts) {
        (Some(target), _) => orchestrate::Hosts::One(target),
        (None, Some(file)) => orchestrate::Hosts::Fleet(file),
        (None, None) => return Err(anyhow!("neither --target-host nor --hosts")),
    };
    let roots = options.open_tool_dir()?.hosts_dir();
    let follows = matches!(activity, Activity::Logs { follow: true, .. });
    let reports = orchestrate::run(&orchestrate::Request {
        hosts,
        tool: "nixproc-sysvinit-runactivity",
        args: &host_args(options, activity),
        echo: if options.json {
            Echo::Capture
        } else {
            Echo::Text
        },
        profile: orchestrate::Profile::None,
        deploys: false,
        params: &BuildParams::default(),
        build_host: None,
        roots: &roots,
        // Following lasts until interrupted: every host at once.
        max_hosts: if follows {
            usize::MAX
        } else {
            options.remote.max_hosts
        },
        use_substitutes: options.remote.use_substitutes,
        nix_options: &options.run.nix_options(),
        transaction: &Transaction::default(),
        fleet_lock: activity.waits_for_the_fleet().then(|| options.run.wait()),
        on: options.remote.on.as_deref(),
        access: &options.remote.access()?,
    })?;
    let table_wanted = options.remote.hosts.is_some() && !matches!(activity, Activity::Logs { .. });
    match orchestrate::report(&reports, options.json, table_wanted) {
        Ok(()) => Ok(true),
        Err(why) => {
            eprintln!("nixproc-sysvinit-runactivity: {why}");
            Ok(false)
        }
    }
}

/// The tool's arguments on a host: the options that mean the same there, then the
/// activity with its own (last: the names of `logs` follow a `--`).
fn host_args(options: &Options, activity: &Activity) -> Vec<String> {
    let mut args = options.deployment.host_args();
    args.extend(options.run.host_args());
    let path = |p: &std::path::Path| p.to_string_lossy().into_owned();
    if let Some(dir) = &options.state_dir {
        args.extend(["--state-dir".to_string(), path(dir)]);
    }
    if let Some(dir) = &options.lib_dir {
        args.extend(["--lib-dir".to_string(), path(dir)]);
    }
    if options.json {
        args.push("--json".to_string());
    }
    args.extend(activity.host_args());
    args
}
