//! A deployment of several hosts as one transaction: after every host switched, each
//! must confirm (`--confirm-timeout`: its processes run, their TCP ports answer, its
//! `healthChecks` pass, all asked over a new SSH call within the timeout); when a host
//! failed or did not confirm, every host that had switched goes back to the generation
//! it had before (`--rollback-on-failure`, and always after a failed confirmation). Each
//! host's report then says where it ended.
//!
//! The confirmation is asked by the deployer: a host that cannot be reached after its
//! switch is not confirmed and is rolled back if it can be reached for that; unlike a
//! timer on the host, nothing rolls back a host that stays unreachable.

use super::fleet::{for_each_host, switch_host, Ended, HostReport, RemoteSwitch};
use super::run::{Echo, RemoteOutput};
use super::{HostSpec, RemoteError};

/// What a fleet deployment does after its switches.
#[derive(Debug, Clone, Default)]
pub struct Transaction {
    /// Roll back every host that switched when any host failed.
    pub rollback_on_failure: bool,
    /// Seconds each host has to confirm, after all switched; `None`: no confirmation.
    pub confirm_timeout: Option<u64>,
    /// The switch's arguments on a host that name its profile and its directories (the
    /// rollback adds what it switches to).
    pub switch_args: Vec<String>,
    /// runactivity's arguments on a host that name its profile (for `confirm`).
    pub activity_args: Vec<String>,
    /// Whether the rollback's events come back as JSON.
    pub json: bool,
}

impl Transaction {
    /// Whether anything happens after the switches.
    pub fn is_active(&self) -> bool {
        self.rollback_on_failure || self.confirm_timeout.is_some()
    }
}

/// Carries out `transaction` on the `reports` of a deployment of `hosts` (in the same
/// order), with the tool package of `switch`: confirms, then rolls back as needed.
pub fn finish(
    hosts: &[HostSpec],
    reports: &mut [HostReport],
    switch: &RemoteSwitch,
    transaction: &Transaction,
    max_hosts: usize,
) {
    if !transaction.is_active() {
        return;
    }
    // What each host had before, for those that switched.
    let previous: Vec<Option<Option<u64>>> = reports
        .iter()
        .map(|r| match &r.outcome {
            Ok(Some(RemoteOutput::Switched(result))) => Some(result.previous_generation),
            _ => None,
        })
        .collect();
    let mut must_roll_back = transaction.rollback_on_failure && reports.iter().any(|r| !r.ok());
    if let (Some(timeout), true) = (
        transaction.confirm_timeout,
        reports.iter().all(HostReport::ok),
    ) {
        let confirmations = for_each_host(hosts, max_hosts, |host| {
            confirm_host(host, switch, transaction, timeout)
        });
        for (report, confirmation) in reports.iter_mut().zip(confirmations) {
            if let Err(e) = confirmation.outcome {
                report.outcome = Err(e);
                must_roll_back = true;
            }
        }
    }
    if !must_roll_back {
        return;
    }
    let to_roll_back: Vec<(usize, &HostSpec, Option<u64>)> = hosts
        .iter()
        .enumerate()
        .filter_map(|(i, host)| previous[i].map(|generation| (i, host, generation)))
        .collect();
    let rolled = for_each_host(&to_roll_back, max_hosts, |(_, host, generation)| {
        roll_back_host(host, switch, transaction, *generation)
    });
    for ((i, _, generation), rollback) in to_roll_back.iter().zip(rolled) {
        reports[*i].ended = Some(match rollback.outcome {
            Ok(_) => Ended::RolledBack(*generation),
            Err(e) => Ended::RollbackFailed(e),
        });
    }
}

/// Asks `host` to confirm its deployment within `timeout` seconds.
fn confirm_host(
    host: &HostSpec,
    switch: &RemoteSwitch,
    transaction: &Transaction,
    timeout: u64,
) -> HostReport {
    let mut args = vec!["confirm".to_string()];
    args.extend(transaction.activity_args.iter().cloned());
    args.extend(["--timeout".to_string(), timeout.to_string()]);
    for check in &host.health_checks {
        args.extend(["--check".to_string(), check.clone()]);
    }
    let confirm = RemoteSwitch {
        profile: None,
        tool: "nixproc-sysvinit-runactivity",
        args: &args,
        echo: Echo::Text,
        ..*switch
    };
    let mut report = switch_host(host, &confirm);
    if let Err(e) = &report.outcome {
        report.outcome = Err(RemoteError::NotConfirmed {
            host: host.target.to_string(),
            timeout,
            detail: e.to_string(),
        });
    }
    report
}

/// Switches `host` back to `generation`, or to nothing deployed.
fn roll_back_host(
    host: &HostSpec,
    switch: &RemoteSwitch,
    transaction: &Transaction,
    generation: Option<u64>,
) -> HostReport {
    let mut args = transaction.switch_args.clone();
    match generation {
        Some(n) => args.extend(["--switch-generation".to_string(), n.to_string()]),
        None => args.push("--undeploy".to_string()),
    }
    args.push("--json".to_string());
    let rollback = RemoteSwitch {
        profile: None,
        tool: "nixproc-sysvinit-switch",
        args: &args,
        echo: if transaction.json {
            Echo::EventsAsJson
        } else {
            Echo::Events
        },
        ..*switch
    };
    switch_host(host, &rollback)
}
