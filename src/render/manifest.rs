//! The manifest of a rendered process; its format is [`crate::tree::manifest`].

use super::layout::{service_id, RuntimePaths};
use crate::spec::{limit_words, Limits, ProcessSpec, ReadinessCheck};

pub use crate::tree::layout::{manifest_path, secret_path};
pub use crate::tree::manifest::{
    Manifest, ManifestLogRotate, ManifestReadiness, ManifestRespawn, ManifestSecret,
};

/// The manifest of `spec`, rendered with these sequence numbers, run-time files and
/// activities (in script order).
pub fn build(
    spec: &ProcessSpec,
    sequence: u32,
    stop_sequence: u32,
    paths: RuntimePaths,
    activities: Vec<String>,
) -> Manifest {
    let rotation = paths
        .log_file
        .as_ref()
        .and(spec.log_rotate)
        .map(|r| ManifestLogRotate {
            max_size: r.max_size,
            keep: r.keep,
        });
    Manifest {
        name: spec.name.clone(),
        sequence,
        stop_sequence,
        dependencies: spec.dependencies.iter().map(|d| d.name.clone()).collect(),
        runlevels: spec.default_start.clone(),
        pid_file: paths.pid_file,
        log_file: paths.log_file,
        log_files: spec
            .own_logs
            .as_ref()
            .map(|logs| logs.files.clone())
            .unwrap_or_default(),
        user: spec.user.clone(),
        activities,
        readiness: readiness(spec),
        process_is_daemon: spec.process_is_daemon,
        process: spec.process.clone(),
        service: spec.process.as_ref().map(|_| service_id(spec)),
        respawn: respawn(spec),
        log_rotate: rotation,
        limits: limit_texts(&spec.limits),
        secrets: secrets(spec),
    }
}

/// How a start of `spec` waits for readiness, as the manifest says it.
fn readiness(spec: &ProcessSpec) -> Option<ManifestReadiness> {
    spec.readiness.as_ref().map(|r| match &r.check {
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
    })
}

/// How the supervisor restarts `spec`, as the manifest says it.
fn respawn(spec: &ProcessSpec) -> Option<ManifestRespawn> {
    spec.respawn.map(|r| ManifestRespawn {
        delay_ms: r.delay_ms,
        attempts: r.attempts,
        window_ms: r.window_ms,
        settle_ms: r.settle_ms,
    })
}

/// The secrets of `spec` with the paths they are placed at; the owner is the process's
/// user unless the secret names one.
fn secrets(spec: &ProcessSpec) -> Vec<ManifestSecret> {
    spec.secrets
        .iter()
        .map(|(name, secret)| ManifestSecret {
            name: name.clone(),
            source: secret.source.clone(),
            path: secret_path(&spec.config.runtime_dir, &spec.name, name),
            owner: secret.owner.clone().or_else(|| spec.user.clone()),
            group: secret.group.clone(),
            mode: format!("{:04o}", secret.mode),
            variable: secret.variable.clone(),
        })
        .collect()
}

/// Each limit's value as the library takes it (`1024:4096`, `max`).
fn limit_texts(limits: &Limits) -> std::collections::BTreeMap<String, String> {
    limits
        .iter()
        .map(|(name, limit)| {
            let one = Limits::from([(name.clone(), *limit)]);
            let word = limit_words(&one);
            let value = word.split_once('=').map_or("", |(_, v)| v).to_string();
            (name.clone(), value)
        })
        .collect()
}
