//! Process descriptions: the typed model of what a user writes in Nix, and its parser.
//!
//! Input is one JSON object (what `builtins.toJSON` or the plugin makes of a Nix attribute
//! set): the per-process attributes at the top level and the global settings of the
//! composition under `config`. Parsing is strict: unknown attributes are errors with a
//! did-you-mean suggestion, every type error names the process and the attribute path.
//!
//! This file holds the typed model ([`ProcessSpec`] and its parts) and re-exports the
//! rest: `attributes` (the tables of known keys and privileged groups), `names` (name
//! rules), `parse` (JSON to [`ProcessSpec`]), `secrets` (the `secrets` attribute) and
//! `config` ([`GlobalConfig`]).

mod attributes;
mod config;
mod lifecycle;
mod names;
mod parse;
mod secrets;

use std::collections::BTreeMap;

pub use attributes::{
    privileged_credential, CONFIG_ATTRIBUTES, CREDENTIAL_KINDS, GROUP_KEYS, INSTRUCTION_ATTRIBUTES,
    LIMIT_NAMES, LOG_ROTATE_ATTRIBUTES, PRIVILEGED_GROUPS, PROCESS_ATTRIBUTES,
    PROCESS_LIST_ATTRIBUTES, READINESS_ATTRIBUTES, RESPAWN_ATTRIBUTES, USER_KEYS,
};
pub use config::{GlobalConfig, DEFAULT_RESTART_ACTIVITY};
pub use lifecycle::{
    is_supervisor, limit_words, seconds_text, Limit, LimitValue, Limits, LogRotate, Respawn,
    CGROUP_LIMITS, DEFAULT_LOG_ROTATE, SUPERVISOR,
};
pub use parse::{parse, parse_json, MAX_ARG_STRLEN};
pub use secrets::{default_variable, Secret, DEFAULT_SECRET_MODE, SECRET_ATTRIBUTES};

/// Another process this one must start after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// Its process name.
    pub name: String,
    /// Its start sequence number.
    pub sequence: u32,
}

/// An activity written as a message verb plus one instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// The verb of the message, e.g. "Starting".
    pub activity: String,
    /// The shell code to run.
    pub instruction: String,
}

/// How `start` knows the process is ready to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadinessCheck {
    /// A TCP port accepts connections.
    Tcp {
        /// Host to connect to.
        host: String,
        /// Port to connect to.
        port: u16,
    },
    /// A shell command succeeds.
    Command(String),
}

/// The optional readiness check of a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// What is checked.
    pub check: ReadinessCheck,
    /// Seconds to wait before the start counts as failed.
    pub timeout: u32,
}

/// Groups and users a process needs, each as sorted key/value pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// Group name → attributes (`gid`).
    pub groups: BTreeMap<String, BTreeMap<String, String>>,
    /// User name → attributes (`group`, `description`, `homeDir`, ...).
    pub users: BTreeMap<String, BTreeMap<String, String>>,
    /// The process set `allowPrivilegedCredentials = true`: its accounts may be
    /// privileged (see [`PRIVILEGED_GROUPS`]), and the credential files of privileged
    /// accounts say so.
    pub allow_privileged: bool,
}

impl Credentials {
    /// True when no group and no user is asked for.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty() && self.users.is_empty()
    }
}

/// The log files a program writes itself, for the logrotate configuration of its tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnLogs {
    /// Their absolute paths (`logFiles`).
    pub files: Vec<String>,
    /// Their rotation (`logRotate`, else the composition's).
    pub rotate: LogRotate,
}

/// A fully parsed and validated process description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSpec {
    /// Script name (`name`, else `instanceName`).
    pub name: String,
    /// Instance name, which makes the PID file unique.
    pub instance_name: Option<String>,
    /// Human description (defaults to the name).
    pub description: String,
    /// Raw activities: name → shell code.
    pub activities: BTreeMap<String, String>,
    /// Activities as message + instruction.
    pub instructions: BTreeMap<String, Instruction>,
    /// The program to manage.
    pub process: Option<String>,
    /// Its command-line arguments.
    pub args: Vec<String>,
    /// Whether the program forks into the background by itself.
    pub process_is_daemon: bool,
    /// Exported environment variables, sorted by name.
    pub environment: BTreeMap<String, String>,
    /// Processes to start first.
    pub dependencies: Vec<Dependency>,
    /// User to run as (already cleared under `forceDisableUserChange`).
    pub user: Option<String>,
    /// Whether the description names a `user`, even one `forceDisableUserChange`
    /// cleared (nix-processmgmt's PID file rule depends on it).
    pub user_declared: bool,
    /// Groups and users to create (empty under `forceDisableUserChange`).
    pub credentials: Credentials,
    /// File mode creation mask, octal digits.
    pub umask: Option<String>,
    /// Nice level.
    pub nice: Option<i32>,
    /// Working directory.
    pub directory: Option<String>,
    /// Packages whose `bin` directories go in front of `PATH`.
    pub path: Vec<String>,
    /// Shell code run before the generated start instruction.
    pub initialize: String,
    /// Activities to leave out.
    pub remove_activities: Vec<String>,
    /// Runlevels that get start links.
    pub default_start: Vec<u8>,
    /// Runlevels that get stop links.
    pub default_stop: Vec<u8>,
    /// Explicit PID file.
    pub pid_file: Option<String>,
    /// Signal of the reload activity, as `-NAME` or `-NUMBER`.
    pub reload_signal: String,
    /// Shell code before the activities (defaults to `config.initialInstructions`).
    pub global_instructions: String,
    /// Whether a foreground process's output goes to a log file.
    pub enable_daemon_output_logging: bool,
    /// Optional readiness check of `start`.
    pub readiness: Option<Readiness>,
    /// Restarts of a foreground process after it exits.
    pub respawn: Option<Respawn>,
    /// Rotation of a foreground process's log (`None`: one file, or no log).
    pub log_rotate: Option<LogRotate>,
    /// Resource and cgroup limits, by name.
    pub limits: Limits,
    /// Log files the program writes itself, and how logrotate rotates them (`None`
    /// without `logFiles`, or with `logRotate = false`).
    pub own_logs: Option<OwnLogs>,
    /// Files kept out of the store, placed by the switch before the process starts, by
    /// name (`secrets`).
    pub secrets: BTreeMap<String, Secret>,
    /// The global settings.
    pub config: GlobalConfig,
}
