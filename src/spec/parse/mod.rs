//! Parsing: turning the JSON of a process description into a validated
//! [`ProcessSpec`], with strict unknown-attribute errors (did-you-mean suggestions),
//! typed errors naming the process and attribute path, and the kernel's string limit.
//!
//! This file holds the top level: [`parse`] reads the name, checks the known
//! attributes, then hands the rest to the parsers of its parts, in a fixed order. The
//! parts: `attrs` (the view of one attribute set and its typed getters), `launch` (what
//! runs, as whom and when), `behaviour` (what surrounds the program: logs, readiness,
//! dependencies), `activities` (the script's own activities), `credentials` (groups and
//! users) and `exec` (the environment and arguments, within the kernel's limit).

mod activities;
mod attrs;
mod behaviour;
mod credentials;
mod exec;
mod launch;

use serde_json::{Map, Value};

pub(super) use attrs::Attrs;
pub use exec::MAX_ARG_STRLEN;

use super::attributes::PROCESS_ATTRIBUTES;
use super::config::{parse_config, GlobalConfig};
use super::ProcessSpec;
use crate::error::{kind_of, Result, SpecError};
use behaviour::parse_behaviour;
use exec::parse_args;
use launch::parse_launch;

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
}
