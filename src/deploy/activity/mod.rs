//! Running one activity (`status`, `stop`, `reload`...) on every script of a profile, in
//! start order or in reverse, going on past failures.

pub mod confirm;
pub mod service_status;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use serde::Serialize;

use super::profile::Profile;
use super::scripts::spawn::describe_status;
use super::{DeployError, Result};
use crate::tree::{layout, Manifest};
use service_status::ServiceStatus;

/// The result of running the activity on one script.
#[derive(Debug, Clone, Serialize)]
pub struct ActivityResult {
    /// Process name.
    pub name: String,
    /// Exit code, `None` when killed by a signal or not runnable.
    pub code: Option<i32>,
    /// Whether it exited 0.
    pub ok: bool,
    /// For `status`: `running` (0), `dead` (1, 2: a PID file without a process),
    /// `stopped` (3), `unknown` (anything else).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<&'static str>,
    /// Status description (`exit 3`, `cannot run ...`).
    pub status: String,
    /// The script's output, when captured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// For `status` with captured output: the service's processes, supervisor and
    /// limits (see [`service_status::inspect`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceStatus>,
    /// Seconds it ran.
    pub seconds: f64,
}

/// The LSB meaning of a `status` exit code.
pub fn status_state(code: Option<i32>) -> &'static str {
    match code {
        Some(0) => "running",
        Some(1) | Some(2) => "dead",
        Some(3) => "stopped",
        _ => "unknown",
    }
}

/// Runs `activity` on every script of `profile` in start order (or reverse), one after
/// the other. With `capture`, the output is collected into the results (through a file:
/// a daemon started by a script must not hold a pipe open); otherwise it goes to the
/// terminal. `scratch` is a directory for those files.
pub fn run_activity(
    profile: &Profile,
    activity: &str,
    reverse: bool,
    capture: bool,
    scratch: &Path,
    on_result: &mut dyn FnMut(&ActivityResult),
) -> Result<Vec<ActivityResult>> {
    let mut order = profile.start_order()?;
    if reverse {
        order.reverse();
    }
    let mut results = Vec::new();
    for name in order {
        let script = &profile.processes[&name].script;
        let started = Instant::now();
        let mut cmd = Command::new(script);
        cmd.arg(activity).stdin(Stdio::null());
        let out_file = scratch.join(format!("activity-{}-{name}.out", std::process::id()));
        if capture {
            let (out, err) = std::fs::File::create(&out_file)
                .and_then(|f| Ok((f.try_clone()?, f)))
                .map_err(|e| DeployError::io("creating", &out_file, e))?;
            cmd.stdout(out).stderr(err);
        }
        let (code, ok, status) = match cmd.status() {
            Ok(s) => (s.code(), s.success(), describe_status(s)),
            Err(e) => (None, false, format!("cannot run {}: {e}", script.display())),
        };
        let output = if capture {
            let text = std::fs::read_to_string(&out_file).unwrap_or_default();
            let _ = std::fs::remove_file(&out_file);
            Some(text)
        } else {
            None
        };
        let service = (capture && activity == "status")
            .then(|| service_of(profile, &name))
            .flatten();
        let r = ActivityResult {
            name,
            code,
            ok,
            state: (activity == "status").then(|| status_state(code)),
            status,
            output,
            service,
            seconds: started.elapsed().as_secs_f64(),
        };
        on_result(&r);
        results.push(r);
    }
    Ok(results)
}

/// The running state of process `name`'s service, from its manifest in `profile`.
fn service_of(profile: &Profile, name: &str) -> Option<ServiceStatus> {
    let path = profile.root.as_ref()?.join(layout::manifest_path(name));
    let manifest = Manifest::from_json(&std::fs::read_to_string(path).ok()?).ok()?;
    service_status::inspect(&manifest)
}
