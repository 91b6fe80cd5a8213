//! What surrounds the program: its environment and search path, the activities, the
//! readiness check, the dependencies, whether it daemonizes, its respawn, logs, limits
//! and secrets.

use std::collections::BTreeMap;

use serde_json::Value;

use super::activities::{parse_work, Work};
use super::exec::parse_environment;
use super::Attrs;
use crate::error::Result;
use crate::spec::attributes::READINESS_ATTRIBUTES;
use crate::spec::config::GlobalConfig;
use crate::spec::lifecycle::{
    check_log_rotate_wrapper, parse_limits, parse_log_files, parse_log_rotate, parse_respawn,
};
use crate::spec::names::{check_name, debug_quote, NameKind};
use crate::spec::{
    is_supervisor, Dependency, Limits, LogRotate, OwnLogs, Readiness, ReadinessCheck, Respawn,
    Secret,
};

/// What surrounds the program: the attributes [`parse`](super::parse) reads after
/// [`Launch`](super::launch::Launch).
pub(super) struct Behaviour {
    /// The environment the program gets.
    pub(super) environment: BTreeMap<String, String>,
    /// The directories put on its `PATH`.
    pub(super) path: Vec<String>,
    /// What the script can do besides the generated activities.
    pub(super) work: Work,
    /// How a start waits for the process to be ready.
    pub(super) readiness: Option<Readiness>,
    /// The processes it comes after.
    pub(super) dependencies: Vec<Dependency>,
    /// Its description (the name by default).
    pub(super) description: String,
    /// Whether the program daemonizes itself.
    pub(super) process_is_daemon: bool,
    /// How the supervisor restarts it.
    pub(super) respawn: Option<Respawn>,
    /// Its logs and their rotation.
    pub(super) logs: Logs,
    /// Its resource and cgroup limits.
    pub(super) limits: Limits,
    /// The secrets it gets.
    pub(super) secrets: BTreeMap<String, Secret>,
}

/// Reads the environment, the path, the work, the readiness, the dependencies, the
/// description, whether the program is a daemon, its respawn, logs, limits and
/// secrets, in that order. `has_program`: whether `process` is set.
pub(super) fn parse_behaviour(
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
    let secrets = crate::spec::secrets::parse_secrets(attrs, &environment)?;
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
pub(super) struct Logs {
    /// The rotation of the output the supervisor captures of a foreground process.
    pub(super) log_rotate: Option<LogRotate>,
    /// The program's own log files, with their rotation.
    pub(super) own_logs: Option<OwnLogs>,
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

/// The optional `readiness` check: exactly one of `tcpPort` (with `tcpHost`,
/// `127.0.0.1` by default) or `command`, and a `timeout` (30 seconds by default).
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

/// The `dependencies`: the processes to start first, each given as the process
/// itself (its `processName` or `name`, and its `sequence`).
fn parse_dependencies(attrs: &Attrs) -> Result<Vec<Dependency>> {
    let items = match attrs.get("dependencies") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(attrs.wrong_type("dependencies", "a list of processes", other)),
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| parse_dependency(attrs, i, item))
        .collect()
}

/// The dependency at index `i` of `dependencies` (`item`): a process, not its name.
fn parse_dependency(attrs: &Attrs, i: usize, item: &Value) -> Result<Dependency> {
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
}
