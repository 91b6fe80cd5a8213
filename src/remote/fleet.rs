//! Work on several hosts at once: each host's job runs on its own thread, at most
//! `max_hosts` at a time; a host's failure is its own (the others go on). The result is
//! one [`HostReport`] per host, shown as a table or as JSON.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::run::{run_remote, Echo, RemoteOutput, RemoteResult};
use super::ssh::{Access, Connection};
use super::{HostSpec, RemoteError};
use crate::deploy::secrets;
use crate::protocol::{HostSummary, Summary, PROTOCOL};

pub use crate::protocol::Changes;

/// How one host's job ended.
#[derive(Debug)]
pub struct HostReport {
    /// The host's name.
    pub host: String,
    /// What the remote tool left (its `result` event, or its captured output), or why
    /// the job failed.
    pub outcome: Result<RemoteResult, RemoteError>,
    /// Where the host ended when the fleet was rolled back after its switch.
    pub ended: Option<Ended>,
}

impl HostReport {
    /// Whether the host's job succeeded.
    pub fn ok(&self) -> bool {
        self.outcome.is_ok()
    }

    /// The switch's changes, when the job succeeded with a `result` event.
    pub fn changes(&self) -> Option<Changes> {
        match &self.outcome {
            Ok(Some(RemoteOutput::Switched(result))) => Some(result.changes()),
            _ => None,
        }
    }

    /// The host's entry in the fleet summary.
    pub fn summary(&self) -> HostSummary {
        let mut summary = HostSummary {
            host: self.host.clone(),
            ok: self.ok(),
            changes: self.changes(),
            ..HostSummary::default()
        };
        match &self.outcome {
            Ok(Some(RemoteOutput::Switched(r))) => summary.result = Some((**r).clone()),
            Ok(Some(RemoteOutput::Captured(output))) => summary.output = Some(output.clone()),
            Ok(None) => {}
            Err(e) => summary.error = Some(e.to_string()),
        }
        summary.ended = self.ended.as_ref().map(ToString::to_string);
        summary
    }
}

/// Where a host ended after a rolled-back fleet deployment.
#[derive(Debug)]
pub enum Ended {
    /// Back on generation N, or with nothing deployed (`None`) as before.
    RolledBack(Option<u64>),
    /// The rollback failed: the host stays on the new deployment.
    RollbackFailed(RemoteError),
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ended::RolledBack(Some(n)) => write!(f, "rolled back to generation {n}"),
            Ended::RolledBack(None) => f.write_str("rolled back to nothing deployed"),
            Ended::RollbackFailed(e) => {
                write!(f, "rollback FAILED, still on the new deployment: {e}")
            }
        }
    }
}

/// Runs `job` for every item, at most `max_hosts` at once (at least one), and returns
/// the reports in the items' order.
pub fn for_each_host<T: Sync>(
    items: &[T],
    max_hosts: usize,
    job: impl Fn(&T) -> HostReport + Sync,
) -> Vec<HostReport> {
    let next = AtomicUsize::new(0);
    let reports: Mutex<Vec<Option<HostReport>>> =
        Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..max_hosts.max(1).min(items.len()) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(item) = items.get(i) else { break };
                let report = job(item);
                reports.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(report);
            });
        }
    });
    reports
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .flatten()
        .collect()
}

/// What to switch to on a host and how.
#[derive(Clone, Copy)]
pub struct RemoteSwitch<'a> {
    /// The profile to deploy (a store path here), when the switch deploys one; `None`
    /// for operations on the host's own generations (rollback, listing...).
    pub profile: Option<&'a Path>,
    /// The package holding the switch tool (a store path here, copied to the host).
    pub tool_package: &'a Path,
    /// The tool to run from the package's `bin/`.
    pub tool: &'a str,
    /// The tool's arguments (the profile, when given, is added last).
    pub args: &'a [String],
    /// How its output comes back.
    pub echo: Echo,
    /// Let the host fetch what it lacks from its own substituters first.
    pub use_substitutes: bool,
    /// This run's way of running commands there (`--sudo`, the sudo password); each
    /// host adds its own settings (see [`Access::for_host`]).
    pub access: &'a Access,
}

/// The switch tool, the only one that takes secrets.
const SWITCH_TOOL: &str = "nixproc-sysvinit-switch";

/// What the switch on a host is told about secrets, and what it reads on its standard
/// input: with a profile, every secret of it read here and sent (`--secrets-from
/// stdin`); without one (a rollback, a listing) the files there stay (`--secrets-from
/// keep`). Other tools get neither. A source that cannot be read fails the host before
/// anything is copied to it.
fn secrets_for(host: &str, switch: &RemoteSwitch) -> Result<(Vec<String>, Vec<u8>), RemoteError> {
    if switch.tool != SWITCH_TOOL {
        return Ok((Vec::new(), Vec::new()));
    }
    let Some(profile) = switch.profile else {
        return Ok((vec!["--secrets-from".into(), "keep".into()], Vec::new()));
    };
    let payload = secrets::read_profile_sources(profile).map_err(|e| RemoteError::Failed {
        host: host.to_string(),
        step: "reading its secrets".into(),
        detail: e.to_string(),
    })?;
    let input = if payload.is_empty() {
        Vec::new()
    } else {
        secrets::payload_line(&payload)
    };
    let from = if payload.is_empty() { "keep" } else { "stdin" };
    Ok((vec!["--secrets-from".into(), from.into()], input))
}

/// One host's switch: read the secrets its profile needs here, check the host can be
/// reached, has Nix and has the profile and the tool (nothing changes on a host that
/// fails this), copy their closures there when it lacks them, then run the tool from
/// its store path, the secrets on its standard input. The switch on the host is its own
/// transaction.
pub fn switch_host(host: &HostSpec, switch: &RemoteSwitch) -> HostReport {
    let name = host.name.as_str();
    let connection = Connection::with_access(&host.target, switch.access.for_host(host));
    let outcome = (|| {
        let (secret_args, input) = secrets_for(name, switch)?;
        connection.prepare()?;
        let package = switch.tool_package.to_string_lossy();
        let profile = switch.profile.map(|p| p.to_string_lossy());
        let mut paths = vec![package.as_ref()];
        paths.extend(profile.as_deref());
        // One round trip when the host has everything already (the usual redeploy).
        if !connection.has_paths(&paths)? {
            connection.copy_closure(&paths, switch.use_substitutes)?;
        }
        let program = switch.tool_package.join("bin").join(switch.tool);
        let program = program.to_string_lossy();
        let mut argv = vec![program.as_ref()];
        argv.extend(switch.args.iter().map(String::as_str));
        argv.extend(secret_args.iter().map(String::as_str));
        argv.extend(profile.as_deref());
        run_remote(name, &connection, &argv, input, switch.echo)
    })();
    HostReport {
        host: name.to_string(),
        outcome,
        ended: None,
    }
}

/// The result cell of a host that failed with `text`: `FAILED: ` and its first line;
/// the other lines go to `details`, under the host's name, for below the table.
fn failure_cell(host: &str, text: &str, details: &mut String) -> String {
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default();
    let rest: Vec<&str> = lines.filter(|l| !l.trim().is_empty()).collect();
    if !rest.is_empty() {
        details.push_str(&format!("{host}:\n"));
        for line in rest {
            details.push_str(&format!("    {line}\n"));
        }
    }
    format!("FAILED: {first}")
}

/// The reports as a table: host, stopped/started/restarted/unchanged, result.
pub fn table(reports: &[HostReport]) -> String {
    let width = reports
        .iter()
        .map(|r| r.host.len())
        .chain([4])
        .max()
        .unwrap_or(4);
    let mut out = format!(
        "{:<width$}  {:>7}  {:>7}  {:>9}  {:>9}  result\n",
        "host", "stopped", "started", "restarted", "unchanged"
    );
    let mut details = String::new();
    for report in reports {
        let counts = match report.changes() {
            Some(c) => [c.stopped, c.started, c.restarted, c.unchanged].map(|n| n.to_string()),
            None => ["-", "-", "-", "-"].map(str::to_string),
        };
        let mut result = match &report.outcome {
            Ok(_) => "ok".to_string(),
            Err(e) => failure_cell(&report.host, &e.to_string(), &mut details),
        };
        if let Some(ended) = &report.ended {
            result = format!("{result}; {}", first_line(&ended.to_string()));
        }
        out.push_str(&format!(
            "{:<width$}  {:>7}  {:>7}  {:>9}  {:>9}  {result}\n",
            report.host, counts[0], counts[1], counts[2], counts[3]
        ));
    }
    out.push_str(&details);
    out
}

/// The first line of `text`.
fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

/// Shows the reports: one JSON object on stdout with `json`, else the table on stderr
/// when `table`.
pub fn print_reports(reports: &[HostReport], json: bool, table_wanted: bool) {
    use std::io::Write;
    if json {
        let _ = writeln!(std::io::stdout().lock(), "{}", to_json(reports));
    } else if table_wanted {
        let _ = write!(std::io::stderr().lock(), "{}", table(reports));
    }
}

/// Why the reports as a whole failed, if any host failed: the one host's own error when
/// there is one host, else which hosts failed.
pub fn failure(reports: &[HostReport]) -> Option<String> {
    let failed: Vec<&HostReport> = reports.iter().filter(|r| !r.ok()).collect();
    let which = || {
        let names: Vec<&str> = failed.iter().map(|r| r.host.as_str()).collect();
        format!(
            "{} of {} hosts failed: {}",
            failed.len(),
            reports.len(),
            names.join(", ")
        )
    };
    let rolled_back = reports.iter().filter(|r| r.ended.is_some()).count();
    match failed.as_slice() {
        _ if rolled_back > 0 => Some(format!(
            "the fleet was rolled back ({rolled_back} host(s)) because {}",
            which()
        )),
        [] => None,
        [one] if reports.len() == 1 => one.outcome.as_ref().err().map(ToString::to_string),
        _ => Some(which()),
    }
}

/// The reports as the fleet [`Summary`] (`{ "event": "fleet", "protocol", "ok", "hosts":
/// [...] }`).
pub fn to_json(reports: &[HostReport]) -> serde_json::Value {
    let summary = Summary {
        protocol: PROTOCOL,
        ok: reports.iter().all(HostReport::ok),
        hosts: reports.iter().map(HostReport::summary).collect(),
    };
    serde_json::to_value(crate::protocol::Event::Fleet(summary))
        .expect("a summary of strings, numbers and JSON values")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_host_keeps_one_table_line_and_its_details_follow() {
        let reports = [
            HostReport {
                host: "web1".into(),
                outcome: Err(RemoteError::Failed {
                    host: "root@web1".into(),
                    step: "the switch".into(),
                    detail:
                        "exit status: 1: error: start of nginx failed\n  line two\n\n  line three"
                            .into(),
                }),
                ended: None,
            },
            HostReport {
                host: "web2".into(),
                outcome: Ok(None),
                ended: None,
            },
        ];
        let table = table(&reports);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 6, "{table}");
        assert!(lines[1].starts_with("web1 ") && lines[1].ends_with("start of nginx failed"));
        assert!(lines[2].starts_with("web2 ") && lines[2].ends_with("ok"));
        assert_eq!(lines[3..], ["web1:", "      line two", "      line three"]);
    }

    #[test]
    fn every_host_runs_and_reports_keep_their_order() {
        let running = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let hosts: Vec<u32> = (0..7).collect();
        let reports = for_each_host(&hosts, 3, |n| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(20));
            running.fetch_sub(1, Ordering::SeqCst);
            HostReport {
                host: format!("h{n}"),
                outcome: if n % 2 == 0 {
                    Ok(None)
                } else {
                    Err(RemoteError::Unreachable {
                        host: format!("h{n}"),
                        detail: "down".into(),
                    })
                },
                ended: None,
            }
        });
        let names: Vec<&str> = reports.iter().map(|r| r.host.as_str()).collect();
        assert_eq!(names, ["h0", "h1", "h2", "h3", "h4", "h5", "h6"]);
        assert!(most.load(Ordering::SeqCst) <= 3);
        let json = to_json(&reports);
        assert_eq!(json["ok"], false);
        assert_eq!(
            json["hosts"][1]["error"],
            "host h1: cannot be reached: down"
        );
        let table = table(&reports);
        assert!(
            table.lines().nth(2).unwrap().contains("FAILED: host h1"),
            "{table}"
        );
        assert!(table.lines().nth(1).unwrap().ends_with("ok"), "{table}");
    }
}
