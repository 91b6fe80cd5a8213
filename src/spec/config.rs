//! The global config of a composition: [`GlobalConfig`], its defaults, and reading it
//! from the `config` attribute set.

use super::attributes::CONFIG_ATTRIBUTES;
use super::lifecycle::{parse_log_rotate, LogRotate, DEFAULT_LOG_ROTATE, SUPERVISOR};
use super::parse::Attrs;
use crate::error::Result;

/// The `restart` activity unless `restartActivity` says otherwise.
pub const DEFAULT_RESTART_ACTIVITY: &str = "\"$0\" stop\n\"$0\" start";

/// Global settings shared by every script of a composition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalConfig {
    /// Where PID files of root processes live.
    pub runtime_dir: String,
    /// Where PID and log files of processes with a `user` live.
    pub tmp_dir: String,
    /// Where output logs of foreground processes live.
    pub log_dir: String,
    /// Ignore every `user`, so an unprivileged caller can run everything.
    pub force_disable_user_change: bool,
    /// Shell code placed before the activities of every script (sources init-functions).
    pub initial_instructions: String,
    /// Command that starts a daemonizing process.
    pub start_daemon: String,
    /// The wrapper that daemonizes foreground processes: the supervisor
    /// `nixproc-sysvinit-supervise` (respawn, log rotation) or libslack `daemon`.
    pub start_process_as_daemon: String,
    /// Command that stops a process.
    pub stop_daemon: String,
    /// Command that sends the reload signal.
    pub reload_daemon: String,
    /// Command that reports the status of the previous command.
    pub evaluate_command: String,
    /// Command that reports whether a process runs.
    pub status_command: String,
    /// Body of the generated `restart` activity.
    pub restart_activity: String,
    /// Runlevels that exist; links are made for each.
    pub supported_run_levels: Vec<u8>,
    /// Lowest sequence number.
    pub min_sequence: u32,
    /// Highest sequence number.
    pub max_sequence: u32,
    /// Interpreter of the scripts.
    pub shell: String,
    /// The log rotation of foreground processes that do not set their own (`None`: one
    /// file).
    pub log_rotate: Option<LogRotate>,
}

impl Default for GlobalConfig {
    fn default() -> Self {
        GlobalConfig {
            runtime_dir: "/var/run".into(),
            tmp_dir: "/tmp".into(),
            log_dir: "/var/log".into(),
            force_disable_user_change: false,
            initial_instructions: String::new(),
            start_daemon: "start_daemon".into(),
            start_process_as_daemon: SUPERVISOR.into(),
            stop_daemon: "killproc".into(),
            reload_daemon: "killproc".into(),
            evaluate_command: "evaluate_retval".into(),
            status_command: "statusproc".into(),
            restart_activity: DEFAULT_RESTART_ACTIVITY.into(),
            supported_run_levels: (0..=6).collect(),
            min_sequence: 0,
            max_sequence: 99,
            shell: "/bin/bash".into(),
            log_rotate: Some(DEFAULT_LOG_ROTATE),
        }
    }
}

pub(super) fn parse_config(attrs: &Attrs) -> Result<GlobalConfig> {
    attrs.check_known(CONFIG_ATTRIBUTES)?;
    let mut config = GlobalConfig::default();
    let strings: [(&str, &mut String); 12] = [
        ("runtimeDir", &mut config.runtime_dir),
        ("tmpDir", &mut config.tmp_dir),
        ("logDir", &mut config.log_dir),
        ("initialInstructions", &mut config.initial_instructions),
        ("startDaemon", &mut config.start_daemon),
        ("startProcessAsDaemon", &mut config.start_process_as_daemon),
        ("stopDaemon", &mut config.stop_daemon),
        ("reloadDaemon", &mut config.reload_daemon),
        ("evaluateCommand", &mut config.evaluate_command),
        ("statusCommand", &mut config.status_command),
        ("restartActivity", &mut config.restart_activity),
        ("shell", &mut config.shell),
    ];
    for (key, slot) in strings {
        if let Some(value) = attrs.opt_string(key)? {
            *slot = value;
        }
    }
    for (key, dir) in [
        ("runtimeDir", &config.runtime_dir),
        ("tmpDir", &config.tmp_dir),
        ("logDir", &config.log_dir),
    ] {
        if !dir.starts_with('/') {
            return Err(attrs.invalid(key, format!("'{dir}' is not an absolute path")));
        }
    }
    if let Some(force) = attrs.opt_bool("forceDisableUserChange")? {
        config.force_disable_user_change = force;
    }
    if let Some(levels) = attrs.opt_runlevels("supportedRunLevels")? {
        config.supported_run_levels = levels;
    }
    if let Some(min) = attrs.opt_u32("minSequence")? {
        config.min_sequence = min;
    }
    config.log_rotate = parse_log_rotate(attrs, Some(DEFAULT_LOG_ROTATE))?;
    if let Some(max) = attrs.opt_u32("maxSequence")? {
        config.max_sequence = max;
    }
    if config.max_sequence > 99 || config.min_sequence > config.max_sequence {
        return Err(attrs.invalid(
            "maxSequence",
            format!(
                "the sequence range {}..{} must lie within 0..99 (sequences have two digits)",
                config.min_sequence, config.max_sequence
            ),
        ));
    }
    Ok(config)
}
