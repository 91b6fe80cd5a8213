//! The manifest of a rendered process; its format is [`crate::tree::manifest`].

use super::layout::RuntimePaths;
use crate::spec::{ProcessSpec, ReadinessCheck};

pub use crate::tree::layout::manifest_path;
pub use crate::tree::manifest::{Manifest, ManifestReadiness};

/// The manifest of `spec`, rendered with these sequence numbers, run-time files and
/// activities (in script order).
pub fn build(
    spec: &ProcessSpec,
    sequence: u32,
    stop_sequence: u32,
    paths: RuntimePaths,
    activities: Vec<String>,
) -> Manifest {
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
