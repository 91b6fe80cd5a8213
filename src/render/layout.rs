//! Sequence numbers, the rc.d links (named as [`crate::tree::layout`] says), and where a
//! process's PID and log files go.

use serde::{Deserialize, Serialize};

use crate::error::{Result, SpecError};
use crate::spec::ProcessSpec;
use crate::tree::layout;

/// One rc.d symlink, relative to `etc/rc.d`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// Where the link lives, e.g. `rc3.d/S01webapp`.
    pub path: String,
    /// What it points to, e.g. `../init.d/webapp`.
    pub target: String,
}

/// Start and stop sequence numbers of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sequences {
    /// Position in start order: one after the latest dependency.
    pub start: u32,
    /// Position in stop order: the mirror image of `start`.
    pub stop: u32,
}

/// Computes the sequence numbers: `start` is one more than the highest dependency
/// sequence (or `minSequence`), `stop` mirrors it within `[minSequence, maxSequence]`.
pub fn sequences(spec: &ProcessSpec) -> Result<Sequences> {
    let config = &spec.config;
    let dependencies = spec
        .dependencies
        .iter()
        .map(|d| (d.name.as_str(), d.sequence));
    let (start, latest) = crate::graph::layer_above(dependencies, config.min_sequence);
    if start > config.max_sequence {
        let dep = latest.unwrap_or_default();
        return Err(SpecError::InvalidValue {
            process: spec.name.clone(),
            attribute: "dependencies".into(),
            message: format!(
                "start sequence {start} exceeds maxSequence {}: '{}' starts after '{dep}' (sequence {}); the dependency chain is too deep",
                config.max_sequence,
                spec.name,
                start - 1
            ),
        });
    }
    Ok(Sequences {
        start,
        stop: config.max_sequence - start + config.min_sequence,
    })
}

/// The start links (`S`) for `defaultStart` and stop links (`K`) for `defaultStop`.
pub fn links(spec: &ProcessSpec, seq: Sequences) -> Vec<Link> {
    let target = layout::link_target(&spec.name);
    let starts = spec
        .default_start
        .iter()
        .map(|level| (*level, layout::START_LINK, seq.start));
    let stops = spec
        .default_stop
        .iter()
        .map(|level| (*level, layout::STOP_LINK, seq.stop));
    let mut links: Vec<Link> = starts
        .chain(stops)
        .map(|(level, kind, number)| Link {
            path: layout::link_path(level, kind, number, &spec.name),
            target: target.clone(),
        })
        .collect();
    links.sort_by(|a, b| a.path.cmp(&b.path));
    links
}

/// Files a managed process uses at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimePaths {
    /// The PID file (for foreground processes: the wrapper's).
    pub pid_file: Option<String>,
    /// Where a foreground process's output goes.
    pub log_file: Option<String>,
}

/// Works out the PID and log files. STEM is `instanceName` or the program's file name.
///
/// - An explicit `pidFile` is used as it is.
/// - A self-daemonizing process with a `user` (even one `forceDisableUserChange`
///   cleared) writes its PID file itself, where nix-processmgmt's convention puts it:
///   `tmpDir/STEM.pid` (its `pidFilesDir` is tmpDir for such processes); the library
///   trusts a PID file in a sticky directory only when it is a regular file of root or
///   that user.
/// - Otherwise `runtimeDir/STEM.pid`; a foreground process with `user`, whose wrapper
///   this project runs, keeps it in a directory of its own, `runtimeDir/STEM/STEM.pid`,
///   which the script creates for that user (never a world-writable directory).
///
/// The log of a foreground process is `logDir/STEM.log`, or `logDir/STEM/STEM.log` with
/// `user`.
pub fn runtime_paths(spec: &ProcessSpec) -> RuntimePaths {
    let stem = spec.instance_name.clone().or_else(|| {
        spec.process
            .as_deref()
            .and_then(|p| p.rsplit('/').next())
            .filter(|base| !base.is_empty())
            .map(str::to_string)
    });
    let as_user = spec.user.is_some();
    let config = &spec.config;
    let file = |dir: &str, stem: &str, ext: &str| {
        if as_user {
            format!("{dir}/{stem}/{stem}.{ext}")
        } else {
            format!("{dir}/{stem}.{ext}")
        }
    };
    let pid_file = spec.pid_file.clone().or_else(|| {
        stem.as_ref().map(|s| {
            if spec.process_is_daemon && spec.user_declared {
                format!("{}/{s}.pid", config.tmp_dir)
            } else {
                file(&config.runtime_dir, s, "pid")
            }
        })
    });
    let log_file = (!spec.process_is_daemon && spec.enable_daemon_output_logging)
        .then(|| stem.as_ref().map(|s| file(&config.log_dir, s, "log")))
        .flatten();
    RuntimePaths { pid_file, log_file }
}

/// The service a process is tracked as (its cgroup `nixproc-sysvinit/KEY/NAME`, see
/// [`crate::tree::service`]).
pub fn service_id(spec: &ProcessSpec) -> String {
    crate::tree::service::service_id(&spec.config.runtime_dir, &spec.name)
}
