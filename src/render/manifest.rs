//! The per-process manifest: what the switch tool needs to know without running anything.

use serde::{Deserialize, Serialize};

use super::script::RuntimePaths;
use crate::spec::{ProcessSpec, ReadinessCheck};

/// Where the manifest of process NAME lives inside its tree.
pub fn manifest_path(name: &str) -> String {
    format!("share/nixproc-sysvinit/processes/{name}.json")
}

/// The readiness check as recorded in a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestReadiness {
    /// TCP port that must accept connections.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tcp_port: Option<u16>,
    /// Host of the TCP check.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tcp_host: Option<String>,
    /// Command that must succeed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub command: Option<String>,
    /// Seconds before the start counts as failed.
    pub timeout: u32,
}

/// Facts about one process, stored as JSON next to its script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Process (script) name.
    pub name: String,
    /// Start sequence number.
    pub sequence: u32,
    /// Stop sequence number.
    pub stop_sequence: u32,
    /// Names of the processes this one starts after.
    pub dependencies: Vec<String>,
    /// Runlevels with start links.
    pub runlevels: Vec<u8>,
    /// PID file, if the process has one.
    pub pid_file: Option<String>,
    /// File that receives a foreground process's output, if any.
    #[serde(default)]
    pub log_file: Option<String>,
    /// User the process runs as.
    pub user: Option<String>,
    /// Activities the script implements, in script order.
    pub activities: Vec<String>,
    /// Readiness check of `start`.
    pub readiness: Option<ManifestReadiness>,
    /// Whether the program daemonizes itself.
    pub process_is_daemon: bool,
    /// The managed program, if any.
    pub process: Option<String>,
}

impl Manifest {
    /// Builds the manifest of a rendered process.
    pub fn new(
        spec: &ProcessSpec,
        sequence: u32,
        stop_sequence: u32,
        paths: RuntimePaths,
        activities: Vec<String>,
    ) -> Self {
        let readiness = spec.readiness.as_ref().map(|r| match &r.check {
            ReadinessCheck::Tcp { host, port } => ManifestReadiness {
                tcp_port: Some(*port),
                tcp_host: Some(host.clone()),
                command: None,
                timeout: r.timeout,
            },
            ReadinessCheck::Command(cmd) => ManifestReadiness {
                tcp_port: None,
                tcp_host: None,
                command: Some(cmd.clone()),
                timeout: r.timeout,
            },
        });
        Manifest {
            name: spec.name.clone(),
            sequence,
            stop_sequence,
            dependencies: spec.dependencies.iter().map(|d| d.name.clone()).collect(),
            runlevels: spec.default_start.clone(),
            pid_file: paths.pid_file,
            log_file: paths.log_file,
            user: spec.user.clone(),
            activities,
            readiness,
            process_is_daemon: spec.process_is_daemon,
            process: spec.process.clone(),
        }
    }
}
