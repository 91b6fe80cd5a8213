//! Parsing: turning the JSON of a process description into a validated
//! [`ProcessSpec`], with strict unknown-attribute errors (did-you-mean suggestions),
//! typed errors naming the process and attribute path, and the kernel's string limit.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::attributes::{
    privileged_credential, CREDENTIAL_KINDS, GROUP_KEYS, INSTRUCTION_ATTRIBUTES,
    PROCESS_ATTRIBUTES, READINESS_ATTRIBUTES, USER_KEYS,
};
use super::config::{parse_config, GlobalConfig};
use super::lifecycle::{
    check_log_rotate_wrapper, parse_limits, parse_log_files, parse_log_rotate, parse_respawn,
};
use super::names::{check_name, debug_quote, shown_name, NameKind};
use super::{
    is_supervisor, Credentials, Dependency, Instruction, Limits, LogRotate, OwnLogs, ProcessSpec,
    Readiness, ReadinessCheck, Respawn, Secret,
};
use crate::error::{kind_of, suggestion_suffix, Result, SpecError};

/// The kernel's limit on one argument or environment string, terminating NUL included
/// (`MAX_ARG_STRLEN`, 32 pages of 4 KiB). A longer `NAME=value` makes `execve` fail
/// with "Argument list too long".
pub const MAX_ARG_STRLEN: usize = 32 * 4096;

/// Parses a JSON text into a validated [`ProcessSpec`].
pub fn parse_json(text: &str) -> Result<ProcessSpec> {
    let value: Value = serde_json::from_str(text).map_err(|e| SpecError::Json(e.to_string()))?;
    parse(&value)
}

/// Parses a JSON value into a validated [`ProcessSpec`].
///
/// The attributes are read in a fixed order, so when a description has two problems
/// the same one is reported every time: the name, the known attributes, `config`, what
/// runs as whom and when (`Launch`), what surrounds the program (`Behaviour`), then the
/// rest in the order the fields below name them.
pub fn parse(value: &Value) -> Result<ProcessSpec> {
    let map = value.as_object().ok_or(SpecError::NotAnAttributeSet {
        found: kind_of(value),
    })?;
    let name = early_name(map)?;
    let attrs = Attrs {
        process: &name,
        prefix: String::new(),
        map,
    };
    attrs.check_known(PROCESS_ATTRIBUTES)?;
    let config = parse_global_config(&attrs)?;
    let launch = parse_launch(&attrs, &name, &config)?;
    let behaviour = parse_behaviour(&attrs, &name, &config, launch.process.is_some())?;

    Ok(ProcessSpec {
        instance_name: launch.instance_name,
        description: behaviour.description,
        activities: behaviour.work.activities,
        instructions: behaviour.work.instructions,
        args: parse_args(&attrs)?,
        process_is_daemon: behaviour.process_is_daemon,
        environment: behaviour.environment,
        dependencies: behaviour.dependencies,
        user_declared: attrs.opt_string("user")?.is_some(),
        user: launch.user,
        credentials: launch.credentials,
        umask: launch.umask,
        nice: launch.nice,
        directory: attrs.opt_string("directory")?,
        path: behaviour.path,
        initialize: attrs.opt_string("initialize")?.unwrap_or_default(),
        remove_activities: behaviour.work.remove_activities,
        default_start: launch.runlevels.start,
        default_stop: launch.runlevels.stop,
        pid_file: attrs.opt_string("pidFile")?,
        reload_signal: launch.reload_signal,
        global_instructions: attrs
            .opt_string("globalInstructions")?
            .unwrap_or_else(|| config.initial_instructions.clone()),
        enable_daemon_output_logging: attrs.opt_bool("enableDaemonOutputLogging")?.unwrap_or(true),
        readiness: behaviour.readiness,
        respawn: behaviour.respawn,
        log_rotate: behaviour.logs.log_rotate,
        limits: behaviour.limits,
        own_logs: behaviour.logs.own_logs,
        secrets: behaviour.secrets,
        process: launch.process,
        config,
        name,
    })
}

/// The composition's settings (`config`): the defaults when it is missing or `null`.
fn parse_global_config(attrs: &Attrs) -> Result<GlobalConfig> {
    match attrs.get("config") {
        None | Some(Value::Null) => Ok(GlobalConfig::default()),
        Some(v) => parse_config(&attrs.nested("config", v)?),
    }
}

/// What runs, as whom and when: the attributes [`parse`] reads right after `config`.
struct Launch {
    /// `instanceName`, checked.
    instance_name: Option<String>,
    /// The user to run as (see [`parse_user`]).
    user: Option<String>,
    /// The accounts the process needs (see [`parse_process_credentials`]).
    credentials: Credentials,
    /// The runlevels it starts and stops in.
    runlevels: Runlevels,
    /// The program (see [`parse_program`]).
    process: Option<String>,
    /// The program's `umask`.
    umask: Option<String>,
    /// The program's `nice` level.
    nice: Option<i32>,
    /// The signal that makes the program reload.
    reload_signal: String,
}

/// Reads the names, the account, the credentials, the runlevels, the program, its
/// umask, nice level and reload signal, in that order.
fn parse_launch(attrs: &Attrs, name: &str, config: &GlobalConfig) -> Result<Launch> {
    // A struct expression evaluates its fields in the order they are written.
    Ok(Launch {
        instance_name: parse_names(attrs, name)?,
        user: parse_user(attrs, config)?,
        credentials: parse_process_credentials(attrs, config)?,
        runlevels: parse_runlevels(attrs, config)?,
        process: parse_program(attrs)?,
        umask: parse_umask(attrs)?,
        nice: parse_nice(attrs)?,
        reload_signal: parse_reload_signal(attrs)?,
    })
}

/// What surrounds the program: the attributes [`parse`] reads after [`Launch`].
struct Behaviour {
    /// The environment the program gets.
    environment: BTreeMap<String, String>,
    /// The directories put on its `PATH`.
    path: Vec<String>,
    /// What the script can do besides the generated activities.
    work: Work,
    /// How a start waits for the process to be ready.
    readiness: Option<Readiness>,
    /// The processes it comes after.
    dependencies: Vec<Dependency>,
    /// Its description (the name by default).
    description: String,
    /// Whether the program daemonizes itself.
    process_is_daemon: bool,
    /// How the supervisor restarts it.
    respawn: Option<Respawn>,
    /// Its logs and their rotation.
    logs: Logs,
    /// Its resource and cgroup limits.
    limits: Limits,
    /// The secrets it gets.
    secrets: BTreeMap<String, Secret>,
}

/// Reads the environment, the path, the work, the readiness, the dependencies, the
/// description, whether the program is a daemon, its respawn, logs, limits and
/// secrets, in that order. `has_program`: whether `process` is set.
fn parse_behaviour(
    attrs: &Attrs,
    name: &str,
    config: &GlobalConfig,
    has_program: bool,
) -> Result<Behaviour> {
    let environment = parse_environment(attrs)?;
    let path = parse_search_path(attrs)?;
    let work = parse_work(attrs, has_program)?;
    let readiness = parse_readiness(attrs)?;
    let dependencies = parse_dependencies(attrs)?;
    let description = attrs
        .opt_string("description")?
        .unwrap_or_else(|| name.to_string());
    let process_is_daemon = attrs.opt_bool("processIsDaemon")?.unwrap_or(true);
    let respawn = parse_respawn(attrs, process_is_daemon, &config.start_process_as_daemon)?;
    let logs = parse_logs(attrs, config, process_is_daemon)?;
    let limits = parse_limits(attrs)?;
    let secrets = super::secrets::parse_secrets(attrs, &environment)?;
    Ok(Behaviour {
        environment,
        path,
        work,
        readiness,
        dependencies,
        description,
        process_is_daemon,
        respawn,
        logs,
        limits,
        secrets,
    })
}

/// The directories to put on the program's `PATH`: `path`, else `paths`.
fn parse_search_path(attrs: &Attrs) -> Result<Vec<String>> {
    match attrs.get("path") {
        Some(_) => attrs.string_list("path"),
        None => attrs.string_list("paths"),
    }
}

/// A process's logs and how they are rotated.
struct Logs {
    /// The rotation of the output the supervisor captures of a foreground process.
    log_rotate: Option<LogRotate>,
    /// The program's own log files, with their rotation.
    own_logs: Option<OwnLogs>,
}

/// Reads `logRotate` (refused for a foreground process whose wrapper cannot rotate)
/// and `logFiles`.
fn parse_logs(attrs: &Attrs, config: &GlobalConfig, process_is_daemon: bool) -> Result<Logs> {
    let wrapper = &config.start_process_as_daemon;
    if !process_is_daemon {
        check_log_rotate_wrapper(attrs, wrapper)?;
    }
    let rotation = parse_log_rotate(attrs, config.log_rotate)?;
    // The output the supervisor captures of a foreground process (a composition's
    // default applies only where the wrapper can rotate), and the program's own files.
    let log_rotate = rotation.filter(|_| !process_is_daemon && is_supervisor(wrapper));
    let log_files = parse_log_files(attrs)?;
    let own_logs = rotation
        .filter(|_| !log_files.is_empty())
        .map(|rotate| OwnLogs {
            files: log_files,
            rotate,
        });
    Ok(Logs {
        log_rotate,
        own_logs,
    })
}

/// Checks the process's names: `instanceName` when given, then the name the script
/// takes (`name`, else `instanceName`). Returns the instance name.
fn parse_names(attrs: &Attrs, name: &str) -> Result<Option<String>> {
    let instance_name = attrs.opt_string("instanceName")?;
    if let Some(instance) = &instance_name {
        check_name(attrs, "instanceName", instance, NameKind::Process)?;
    }
    let name_key = if attrs.map.contains_key("name") {
        "name"
    } else {
        "instanceName"
    };
    check_name(attrs, name_key, name, NameKind::Process)?;
    Ok(instance_name)
}

/// The user to run as: checked when given, dropped under `forceDisableUserChange`.
fn parse_user(attrs: &Attrs, config: &GlobalConfig) -> Result<Option<String>> {
    match attrs.opt_string("user")? {
        Some(u) => {
            check_name(attrs, "user", &u, NameKind::Account)?;
            Ok((!config.force_disable_user_change).then_some(u))
        }
        None => Ok(None),
    }
}

/// The process's `credentials` with its `allowPrivilegedCredentials`; checked even
/// under `forceDisableUserChange`, which then drops them.
fn parse_process_credentials(attrs: &Attrs, config: &GlobalConfig) -> Result<Credentials> {
    let allow_privileged = attrs
        .opt_bool("allowPrivilegedCredentials")?
        .unwrap_or(false);
    // Without user changes no account is made, so none can be privileged.
    let credentials =
        parse_credentials(attrs, allow_privileged || config.force_disable_user_change)?;
    Ok(if config.force_disable_user_change {
        Credentials::default()
    } else {
        credentials
    })
}

/// The runlevels a process starts and stops in.
struct Runlevels {
    /// `defaultStart`, else `runlevels`.
    start: Vec<u8>,
    /// `defaultStop`, else every supported runlevel not in `start`.
    stop: Vec<u8>,
}

/// Reads `runlevels`, `defaultStart` and `defaultStop`, each checked against the
/// supported runlevels.
fn parse_runlevels(attrs: &Attrs, config: &GlobalConfig) -> Result<Runlevels> {
    let runlevels = attrs.opt_runlevels("runlevels")?.unwrap_or_default();
    check_runlevels(attrs, "runlevels", &runlevels, config)?;
    let start = match attrs.opt_runlevels("defaultStart")? {
        Some(levels) => {
            check_runlevels(attrs, "defaultStart", &levels, config)?;
            levels
        }
        None => runlevels,
    };
    let stop = match attrs.opt_runlevels("defaultStop")? {
        Some(levels) => {
            check_runlevels(attrs, "defaultStop", &levels, config)?;
            levels
        }
        None => config
            .supported_run_levels
            .iter()
            .copied()
            .filter(|l| !start.contains(l))
            .collect(),
    };
    Ok(Runlevels { start, stop })
}

/// The program to manage (`process`): not empty and not an option.
fn parse_program(attrs: &Attrs) -> Result<Option<String>> {
    let process = attrs.opt_string("process")?;
    if let Some(p) = &process {
        if p.is_empty() || p.starts_with('-') {
            return Err(attrs.invalid(
                "process",
                format!("'{p}' is not a program path (it must not be empty or start with '-')"),
            ));
        }
    }
    Ok(process)
}

/// The `umask`: a string (or a non-negative integer) of one to four octal digits.
fn parse_umask(attrs: &Attrs) -> Result<Option<String>> {
    let umask = match attrs.get("umask") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.is_u64() => Some(n.to_string()),
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => return Err(attrs.wrong_type("umask", "a string of octal digits", other)),
    };
    if let Some(mask) = &umask {
        if mask.is_empty() || mask.len() > 4 || !mask.chars().all(|c| ('0'..='7').contains(&c)) {
            return Err(attrs.invalid(
                "umask",
                format!("'{mask}' is not an octal umask such as \"022\""),
            ));
        }
    }
    Ok(umask)
}

/// The `nice` level, within -20..19.
fn parse_nice(attrs: &Attrs) -> Result<Option<i32>> {
    match attrs.opt_int("nice")? {
        Some(n) if !(-20..=19).contains(&n) => {
            Err(attrs.invalid("nice", format!("{n} is outside the nice range -20..19")))
        }
        other => Ok(other.map(|n| n as i32)),
    }
}

/// What a process's script can do besides the generated activities.
struct Work {
    /// Raw activities: name → shell code.
    activities: BTreeMap<String, String>,
    /// Activities as message + instruction.
    instructions: BTreeMap<String, Instruction>,
    /// Generated activities to leave out.
    remove_activities: Vec<String>,
}

/// Reads `removeActivities`, `activities` and `instructions`; fails when there is
/// nothing to run at all (no program either: `has_program` is false).
fn parse_work(attrs: &Attrs, has_program: bool) -> Result<Work> {
    let remove_activities = attrs.string_list("removeActivities")?;
    let activities = parse_activities(attrs)?;
    let instructions = parse_instructions(attrs)?;
    for activity in &remove_activities {
        check_name(attrs, "removeActivities", activity, NameKind::Activity)?;
    }
    if !has_program && activities.is_empty() && instructions.is_empty() {
        return Err(attrs.invalid(
            "process",
            "nothing to run: set 'process', 'instructions' or 'activities'".into(),
        ));
    }
    Ok(Work {
        activities,
        instructions,
        remove_activities,
    })
}

/// Finds the process name before anything else, so every later error can name it.
fn early_name(map: &Map<String, Value>) -> Result<String> {
    for key in ["name", "instanceName"] {
        match map.get(key) {
            Some(Value::String(s)) => return Ok(s.clone()),
            None | Some(Value::Null) => continue,
            Some(other) => {
                return Err(SpecError::WrongType {
                    process: "<unnamed>".into(),
                    attribute: key.into(),
                    expected: "a string",
                    found: kind_of(other),
                })
            }
        }
    }
    Err(SpecError::MissingName)
}

/// A view of one attribute set of the input, with the context errors need.
pub(super) struct Attrs<'a> {
    process: &'a str,
    prefix: String,
    map: &'a Map<String, Value>,
}

impl<'a> Attrs<'a> {
    fn path(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.prefix)
        }
    }

    pub(super) fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key)
    }

    pub(super) fn wrong_type(&self, key: &str, expected: &'static str, found: &Value) -> SpecError {
        SpecError::WrongType {
            process: shown_name(self.process),
            attribute: self.path(key),
            expected,
            found: kind_of(found),
        }
    }

    pub(super) fn invalid(&self, key: &str, message: String) -> SpecError {
        SpecError::InvalidValue {
            process: shown_name(self.process),
            attribute: self.path(key),
            message,
        }
    }

    pub(super) fn check_known(&self, known: &[&str]) -> Result<()> {
        for key in self.map.keys() {
            if !known.contains(&key.as_str()) {
                return Err(SpecError::UnknownAttribute {
                    process: shown_name(self.process),
                    attribute: self.path(key),
                    suggestion: suggestion_suffix(key, known),
                });
            }
        }
        Ok(())
    }

    /// The attributes of this set, sorted by name.
    pub(super) fn map_entries(&self) -> impl Iterator<Item = (&'a String, &'a Value)> {
        self.map.iter()
    }

    /// The attribute set under `key`, as a nested view.
    pub(super) fn nested(&self, key: &str, value: &'a Value) -> Result<Attrs<'a>> {
        match value {
            Value::Object(map) => Ok(Attrs {
                process: self.process,
                prefix: self.path(key),
                map,
            }),
            other => Err(self.wrong_type(key, "an attribute set", other)),
        }
    }

    pub(super) fn opt_nested(&self, key: &str) -> Result<Option<Attrs<'a>>> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => self.nested(key, v).map(Some),
        }
    }

    /// The optional attribute set `key` as a map: each of its attributes turned into a
    /// value by `entry`, given the set, the attribute's name and its value. Empty when
    /// `key` is missing or `null`.
    fn opt_map<T>(
        &self,
        key: &str,
        mut entry: impl FnMut(&Attrs<'a>, &'a String, &'a Value) -> Result<T>,
    ) -> Result<BTreeMap<String, T>> {
        let Some(set) = self.opt_nested(key)? else {
            return Ok(BTreeMap::new());
        };
        set.map
            .iter()
            .map(|(name, value)| Ok((name.clone(), entry(&set, name, value)?)))
            .collect()
    }

    fn string_value(&self, key: &str, value: &Value) -> Result<String> {
        match value {
            Value::String(s) if s.contains('\0') => {
                Err(self.invalid(key, "contains a NUL character".into()))
            }
            Value::String(s) => Ok(s.clone()),
            other => Err(self.wrong_type(key, "a string", other)),
        }
    }

    pub(super) fn opt_string(&self, key: &str) -> Result<Option<String>> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => self.string_value(key, v).map(Some),
        }
    }

    /// A string, integer or boolean turned into text the way Nix's `toString` does.
    fn scalar_value(&self, key: &str, value: &Value) -> Result<String> {
        match value {
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
            Value::Bool(true) => Ok("1".into()),
            Value::Bool(false) => Ok(String::new()),
            Value::String(_) => self.string_value(key, value),
            other => Err(self.wrong_type(key, "a string, an integer or a boolean", other)),
        }
    }

    pub(super) fn opt_bool(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.wrong_type(key, "a boolean", other)),
        }
    }

    pub(super) fn opt_int(&self, key: &str) -> Result<Option<i64>> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) if n.is_i64() => Ok(n.as_i64()),
            Some(Value::Number(n)) if n.is_u64() => {
                Err(self.invalid(key, format!("{n} is too large")))
            }
            Some(other) => Err(self.wrong_type(key, "an integer", other)),
        }
    }

    pub(super) fn opt_u32(&self, key: &str) -> Result<Option<u32>> {
        match self.opt_int(key)? {
            None => Ok(None),
            Some(n) => u32::try_from(n)
                .map(Some)
                .map_err(|_| self.invalid(key, format!("{n} is not a non-negative integer"))),
        }
    }

    /// A list of strings (integers and booleans are turned into text like `toString`).
    pub(super) fn string_list(&self, key: &str) -> Result<Vec<String>> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::Array(_) | Value::Object(_) | Value::Null => Err(SpecError::WrongType {
                        process: shown_name(self.process),
                        attribute: format!("{}[{i}]", self.path(key)),
                        expected: "a string",
                        found: kind_of(item),
                    }),
                    _ => self.scalar_value(key, item),
                })
                .collect(),
            Some(other) => Err(self.wrong_type(key, "a list of strings", other)),
        }
    }

    pub(super) fn opt_runlevels(&self, key: &str) -> Result<Option<Vec<u8>>> {
        match self.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => {
                let mut levels = Vec::with_capacity(items.len());
                for item in items {
                    let level = item
                        .as_u64()
                        .filter(|l| *l <= 9)
                        .ok_or_else(|| match item {
                            Value::Number(n) if n.is_i64() || n.is_u64() => self.invalid(
                                key,
                                format!("{n} is not a runlevel (runlevels are 0 to 9)"),
                            ),
                            other => self.wrong_type(key, "a list of integers", other),
                        })?;
                    if !levels.contains(&(level as u8)) {
                        levels.push(level as u8);
                    }
                }
                levels.sort_unstable();
                Ok(Some(levels))
            }
            Some(other) => Err(self.wrong_type(key, "a list of integers", other)),
        }
    }
}

fn check_runlevels(attrs: &Attrs, key: &str, levels: &[u8], config: &GlobalConfig) -> Result<()> {
    if let Some(bad) = levels
        .iter()
        .find(|l| !config.supported_run_levels.contains(l))
    {
        let supported: Vec<String> = config
            .supported_run_levels
            .iter()
            .map(u8::to_string)
            .collect();
        return Err(attrs.invalid(
            key,
            format!(
                "runlevel {bad} is not one of the supported runlevels {}",
                supported.join(" ")
            ),
        ));
    }
    Ok(())
}

/// The `reloadSignal` (`-HUP` unless given), normalised.
fn parse_reload_signal(attrs: &Attrs) -> Result<String> {
    let signal = attrs
        .opt_string("reloadSignal")?
        .unwrap_or_else(|| "-HUP".into());
    normalise_signal(attrs, &signal)
}

/// A signal as `-NAME` or `-NUMBER` (a leading `-` or `SIG` dropped first), or an error
/// for text that names no signal.
fn normalise_signal(attrs: &Attrs, signal: &str) -> Result<String> {
    let bare = signal.strip_prefix('-').unwrap_or(signal);
    let bare = bare.strip_prefix("SIG").unwrap_or(bare);
    let ok = !bare.is_empty()
        && (bare.chars().all(|c| c.is_ascii_digit())
            || bare
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '+' || c == '-'));
    if ok {
        Ok(format!("-{bare}"))
    } else {
        Err(attrs.invalid(
            "reloadSignal",
            format!(
                "{} is not a signal such as \"-HUP\" or \"USR1\"",
                debug_quote(signal)
            ),
        ))
    }
}

fn parse_environment(attrs: &Attrs) -> Result<BTreeMap<String, String>> {
    attrs.opt_map("environment", |env, key, value| {
        check_name(env, key, key, NameKind::Variable)?;
        let value = env.scalar_value(key, value)?;
        // `NAME=value` and its NUL are one string of the process's environment.
        let size = key.len() + 1 + value.len() + 1;
        if size > MAX_ARG_STRLEN {
            return Err(env.invalid(
                key,
                format!(
                    "the value is {} bytes; as the environment string '{key}=...' it is {size} bytes, beyond the kernel's limit of {MAX_ARG_STRLEN} bytes for one string (MAX_ARG_STRLEN), so the process could not be started; pass large data in a file instead",
                    value.len()
                ),
            ));
        }
        Ok(value)
    })
}

/// The command-line arguments, each within the kernel's limit for one string.
fn parse_args(attrs: &Attrs) -> Result<Vec<String>> {
    let args = attrs.string_list("args")?;
    if let Some((i, arg)) = args
        .iter()
        .enumerate()
        .find(|(_, a)| a.len() + 1 > MAX_ARG_STRLEN)
    {
        return Err(attrs.invalid(
            &format!("args[{i}]"),
            format!(
                "the argument is {} bytes, beyond the kernel's limit of {MAX_ARG_STRLEN} bytes for one string (MAX_ARG_STRLEN), so the process could not be started; pass large data in a file instead",
                arg.len()
            ),
        ));
    }
    Ok(args)
}

fn parse_activities(attrs: &Attrs) -> Result<BTreeMap<String, String>> {
    attrs.opt_map("activities", |acts, key, value| {
        check_name(attrs, &acts.path(key), key, NameKind::Activity)?;
        acts.string_value(key, value)
    })
}

fn parse_instructions(attrs: &Attrs) -> Result<BTreeMap<String, Instruction>> {
    attrs.opt_map("instructions", |instrs, key, value| {
        check_name(attrs, &instrs.path(key), key, NameKind::Activity)?;
        let one = instrs.nested(key, value)?;
        one.check_known(INSTRUCTION_ATTRIBUTES)?;
        let instruction = one
            .opt_string("instruction")?
            .ok_or_else(|| one.invalid("instruction", "missing: the shell code to run".into()))?;
        let activity = one
            .opt_string("activity")?
            .unwrap_or_else(|| capitalise(key));
        Ok(Instruction {
            activity,
            instruction,
        })
    })
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn parse_readiness(attrs: &Attrs) -> Result<Option<Readiness>> {
    let Some(ready) = attrs.opt_nested("readiness")? else {
        return Ok(None);
    };
    ready.check_known(READINESS_ATTRIBUTES)?;
    let timeout = ready.opt_u32("timeout")?.unwrap_or(30);
    let port = ready.opt_int("tcpPort")?;
    let command = ready.opt_string("command")?;
    let check = match (port, command) {
        (Some(port), None) => {
            let port = u16::try_from(port)
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| ready.invalid("tcpPort", format!("{port} is not a TCP port")))?;
            let host = ready
                .opt_string("tcpHost")?
                .unwrap_or_else(|| "127.0.0.1".into());
            ReadinessCheck::Tcp { host, port }
        }
        (None, Some(command)) => ReadinessCheck::Command(command),
        _ => {
            return Err(attrs.invalid(
                "readiness",
                "give exactly one of 'tcpPort' or 'command'".into(),
            ))
        }
    };
    Ok(Some(Readiness { check, timeout }))
}

fn parse_dependencies(attrs: &Attrs) -> Result<Vec<Dependency>> {
    let items = match attrs.get("dependencies") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(attrs.wrong_type("dependencies", "a list of processes", other)),
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let key = format!("dependencies[{i}]");
            let dep = match item {
                Value::Object(map) => Attrs {
                    process: attrs.process,
                    prefix: key.clone(),
                    map,
                },
                Value::String(s) => {
                    return Err(attrs.invalid(
                        &key,
                        format!(
                            "got the string {}; pass the process itself (the result of createSystemVInitScript), which carries 'name' and 'sequence'",
                            debug_quote(s)
                        ),
                    ))
                }
                other => return Err(attrs.wrong_type(&key, "a process (an attribute set)", other)),
            };
            let name = match dep.get("processName").or_else(|| dep.get("name")) {
                Some(Value::String(s)) => s.clone(),
                Some(other) => return Err(dep.wrong_type("name", "a string", other)),
                None => return Err(dep.invalid("name", "missing".into())),
            };
            check_name(&dep, "name", &name, NameKind::Process)?;
            let sequence = dep
                .opt_u32("sequence")?
                .ok_or_else(|| dep.invalid("sequence", "missing".into()))?;
            Ok(Dependency { name, sequence })
        })
        .collect()
}

/// The `credentials` attribute set: groups and users by name, each entry's fields as
/// text. Without `allow_privileged`, an entry that would make its account privileged
/// is an error.
fn parse_credentials(attrs: &Attrs, allow_privileged: bool) -> Result<Credentials> {
    let mut out = Credentials {
        allow_privileged,
        ..Credentials::default()
    };
    let Some(creds) = attrs.opt_nested("credentials")? else {
        return Ok(out);
    };
    creds.check_known(CREDENTIAL_KINDS)?;
    for (kind, keys, slot) in [
        ("groups", GROUP_KEYS, &mut out.groups),
        ("users", USER_KEYS, &mut out.users),
    ] {
        *slot = creds.opt_map(kind, |entries, account, value| {
            check_name(entries, account, account, NameKind::Account)?;
            let entry = entries.nested(account, value)?;
            let fields = parse_account_fields(&entry, keys)?;
            if !allow_privileged {
                refuse_privileged(kind, account, entries, &entry, &fields)?;
            }
            Ok(fields)
        })?;
    }
    Ok(out)
}

/// The fields of one group or user (`entry`), known `keys` only, each as text; `null`
/// leaves a field out. Group names in `group` and `extraGroups` are checked.
fn parse_account_fields(entry: &Attrs, keys: &[&str]) -> Result<BTreeMap<String, String>> {
    entry.check_known(keys)?;
    let mut fields = BTreeMap::new();
    for (key, value) in entry.map {
        let text = match value {
            Value::Null => continue,
            Value::Array(items) if key == "extraGroups" => extra_groups(entry, key, items.len())?,
            other => entry.scalar_value(key, other)?,
        };
        if key == "group" {
            check_name(entry, key, &text, NameKind::Account)?;
        }
        if PASSWD_FIELDS.contains(&key.as_str()) {
            check_passwd_field(entry, key, &text)?;
        }
        let text = if key == "createHomeDir" {
            create_home_dir(entry, key, &text)?
        } else {
            text
        };
        fields.insert(key.clone(), text);
    }
    if fields.get("createHomeDir").is_some_and(|v| v == "1") && !fields.contains_key("homeDir") {
        return Err(entry.invalid(
            "createHomeDir",
            "needs `homeDir` (without it Dysnomia gives the user the home /dev/null, \
             which it cannot create)"
                .into(),
        ));
    }
    Ok(fields)
}

/// The user fields that become fields of `/etc/passwd` (through `useradd`, ours and
/// Dysnomia's, which passes its arguments one per line).
const PASSWD_FIELDS: &[&str] = &["description", "homeDir", "shell"];

/// Refuses a `:` or a newline in a field of `/etc/passwd`: `useradd` refuses them, and
/// Dysnomia would split its argument at the newline.
fn check_passwd_field(entry: &Attrs, key: &str, text: &str) -> Result<()> {
    match text.chars().find(|c| matches!(c, ':' | '\n' | '\r')) {
        None => Ok(()),
        Some(c) => Err(entry.invalid(
            key,
            format!("{c:?} cannot be part of a field of /etc/passwd"),
        )),
    }
}

/// `createHomeDir` as `1` (yes) or nothing (no), the only spelling Dysnomia's
/// `dysnomia-addusers` reads as yes (it compares with `1`): `true`, `yes` and `1` in any
/// case mean yes, `false`, `no`, `0` and the empty string no.
fn create_home_dir(entry: &Attrs, key: &str, text: &str) -> Result<String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" => Ok("1".into()),
        "" | "0" | "false" | "no" => Ok(String::new()),
        _ => Err(entry.invalid(key, format!("{text:?} is neither yes nor no"))),
    }
}

/// The list of `extraGroups` (`count` items) as one comma-separated string, each name
/// checked.
fn extra_groups(entry: &Attrs, key: &str, count: usize) -> Result<String> {
    let names = entry.string_list(key)?;
    for name in &names {
        check_name(entry, key, name, NameKind::Account)?;
    }
    debug_assert_eq!(names.len(), count);
    Ok(names.join(","))
}

/// Fails when the fields of `account` (of `kind`, `groups` or `users`) would make it
/// privileged, naming the field at fault (or the entry itself).
fn refuse_privileged(
    kind: &str,
    account: &str,
    entries: &Attrs,
    entry: &Attrs,
    fields: &BTreeMap<String, String>,
) -> Result<()> {
    match privileged_credential(kind, account, fields, &|_| None) {
        None => Ok(()),
        Some((key, what)) => Err(SpecError::PrivilegedCredentials {
            process: shown_name(entries.process),
            attribute: match key {
                Some(key) => entry.path(key),
                None => entries.path(account),
            },
            what,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_follow_the_seed() {
        let spec = parse(&json!({"name": "web", "process": "/bin/web"})).unwrap();
        assert_eq!(spec.description, "web");
        assert!(spec.process_is_daemon);
        assert_eq!(spec.default_start, Vec::<u8>::new());
        assert_eq!(spec.default_stop, vec![0, 1, 2, 3, 4, 5, 6]);
        assert_eq!(spec.reload_signal, "-HUP");
    }

    #[test]
    fn instance_name_stands_in_for_name() {
        let spec = parse(&json!({"instanceName": "web2", "process": "/bin/web"})).unwrap();
        assert_eq!(spec.name, "web2");
    }

    #[test]
    fn user_fields_are_written_as_dysnomia_reads_them() {
        let user = |fields: serde_json::Value| {
            parse(&json!({"name": "web", "process": "/bin/web",
                "credentials": {"users": {"web": fields}}}))
        };
        let spec = user(json!({"homeDir": "/srv/web", "createHomeDir": "yes"})).unwrap();
        assert_eq!(spec.credentials.users["web"]["createHomeDir"], "1");
        let spec = user(json!({"createHomeDir": false})).unwrap();
        assert_eq!(spec.credentials.users["web"]["createHomeDir"], "");
        let e = user(json!({"createHomeDir": true}))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("credentials.users.web.createHomeDir") && e.contains("homeDir"),
            "{e}"
        );
        let e = user(json!({"createHomeDir": "maybe"}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("neither yes nor no"), "{e}");
        for key in ["description", "homeDir", "shell"] {
            for bad in ["a:b", "a\nb"] {
                let e = user(json!({ key: bad })).unwrap_err().to_string();
                assert!(e.contains(&format!("credentials.users.web.{key}")), "{e}");
            }
        }
    }

    #[test]
    fn force_disable_user_change_drops_user_and_credentials() {
        let spec = parse(&json!({
            "name": "web", "process": "/bin/web", "user": "web",
            "credentials": {"users": {"web": {"group": "web"}}},
            "config": {"forceDisableUserChange": true}
        }))
        .unwrap();
        assert_eq!(spec.user, None);
        assert!(spec.credentials.is_empty());
    }

    #[test]
    fn integers_and_booleans_become_text_like_to_string() {
        let spec = parse(&json!({
            "name": "web", "process": "/bin/web",
            "args": [1, true, false, "x"], "environment": {"PORT": 5000}
        }))
        .unwrap();
        assert_eq!(spec.args, ["1", "1", "", "x"]);
        assert_eq!(spec.environment["PORT"], "5000");
    }
}
