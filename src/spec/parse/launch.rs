//! What runs, as whom and when: the names, the user and the accounts, the runlevels,
//! the program with its umask and nice level, and the signal that makes it reload.

use serde_json::Value;

use super::credentials::parse_credentials;
use super::Attrs;
use crate::error::Result;
use crate::spec::config::GlobalConfig;
use crate::spec::names::{check_name, debug_quote, NameKind};
use crate::spec::Credentials;

/// What runs, as whom and when: the attributes [`parse`](super::parse) reads right
/// after `config`.
pub(super) struct Launch {
    /// `instanceName`, checked.
    pub(super) instance_name: Option<String>,
    /// The user to run as (see [`parse_user`]).
    pub(super) user: Option<String>,
    /// The accounts the process needs (see [`parse_process_credentials`]).
    pub(super) credentials: Credentials,
    /// The runlevels it starts and stops in.
    pub(super) runlevels: Runlevels,
    /// The program (see [`parse_program`]).
    pub(super) process: Option<String>,
    /// The program's `umask`.
    pub(super) umask: Option<String>,
    /// The program's `nice` level.
    pub(super) nice: Option<i32>,
    /// The signal that makes the program reload.
    pub(super) reload_signal: String,
}

/// Reads the names, the account, the credentials, the runlevels, the program, its
/// umask, nice level and reload signal, in that order.
pub(super) fn parse_launch(attrs: &Attrs, name: &str, config: &GlobalConfig) -> Result<Launch> {
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
pub(super) struct Runlevels {
    /// `defaultStart`, else `runlevels`.
    pub(super) start: Vec<u8>,
    /// `defaultStop`, else every supported runlevel not in `start`.
    pub(super) stop: Vec<u8>,
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

/// Fails when one of `levels` (of the attribute `key`) is not a supported runlevel.
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

#[cfg(test)]
mod tests {
    use crate::spec::parse;
    use serde_json::json;

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
}
