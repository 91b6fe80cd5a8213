//! How a process lives after its start: `respawn` (restarts of a foreground process),
//! `logRotate` (the size-rotated log of its output) and `limits` (resource and cgroup
//! limits): their types, defaults and parsers.
//!
//! Respawn and log rotation are the supervisor's (`nixproc-sysvinit-supervise`, the
//! default wrapper of foreground processes); limits are set by the init-functions
//! library for every process (`15-limits.sh`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use super::attributes::{LIMIT_NAMES, LOG_ROTATE_ATTRIBUTES, RESPAWN_ATTRIBUTES};
use super::parse::Attrs;
use crate::error::Result;

/// The file name of the supervisor program, which alone can respawn and rotate logs.
pub const SUPERVISOR: &str = "nixproc-sysvinit-supervise";

/// Restarting a foreground process after it exits (`respawn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Respawn {
    /// Milliseconds between an exit and the restart (`delay`, seconds, default 1).
    pub delay_ms: u64,
    /// Restarts allowed within `window`; one more exit gives up (`attempts`, default 5).
    pub attempts: u32,
    /// Milliseconds over which exits are counted (`window`, seconds, default 60).
    pub window_ms: u64,
    /// Milliseconds the first run must last for the start to succeed (`settle`,
    /// seconds, default 1): a process crashing at once fails its start instead.
    pub settle_ms: u64,
}

impl Default for Respawn {
    fn default() -> Self {
        Respawn {
            delay_ms: 1000,
            attempts: 5,
            window_ms: 60_000,
            settle_ms: 1000,
        }
    }
}

impl Respawn {
    /// The library's `-r` setting: `delay=1 attempts=5 window=60 settle=1`.
    pub fn words(&self) -> String {
        format!(
            "delay={} attempts={} window={} settle={}",
            seconds_text(self.delay_ms),
            self.attempts,
            seconds_text(self.window_ms),
            seconds_text(self.settle_ms)
        )
    }
}

/// Size-based rotation of a foreground process's log (`logRotate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogRotate {
    /// The size in bytes past which the log is rotated (`maxSize`, default 10 MiB).
    pub max_size: u64,
    /// Rotated files kept, `NAME.log.1` (newest) to `NAME.log.KEEP` (`keep`, default 5).
    pub keep: u32,
}

/// The rotation a composition gives every foreground process unless told otherwise.
pub const DEFAULT_LOG_ROTATE: LogRotate = LogRotate {
    max_size: 10 * 1024 * 1024,
    keep: 5,
};

impl LogRotate {
    /// The library's `-L` setting: `maxSize=10485760 keep=5`.
    pub fn words(&self) -> String {
        format!("maxSize={} keep={}", self.max_size, self.keep)
    }
}

/// One end of a resource limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitValue {
    /// No limit.
    Unlimited,
    /// At most this many (bytes for sizes).
    At(u64),
}

impl std::fmt::Display for LimitValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LimitValue::Unlimited => f.write_str("unlimited"),
            LimitValue::At(n) => write!(f, "{n}"),
        }
    }
}

/// A limit of `limits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// A resource limit (setrlimit): its soft and hard values.
    Resource {
        /// The soft limit.
        soft: LimitValue,
        /// The hard limit.
        hard: LimitValue,
    },
    /// A cgroup limit (`memory`, `pids`: `None` for `max`; `cpuWeight`).
    Cgroup(Option<u64>),
}

/// The limits of a process, by name (`nofile`, `memory`, ...).
pub type Limits = BTreeMap<String, Limit>;

/// The cgroup limits among [`LIMIT_NAMES`]; the others are resource limits.
pub const CGROUP_LIMITS: &[&str] = &["cpuWeight", "memory", "pids"];

/// Resource limits counted in bytes, which the library sets in KiB (multiples of 1024).
const BYTE_LIMITS: &[&str] = &["as", "core", "data", "fsize", "memlock", "rss", "stack"];

/// The library's `-l` setting: `NAME=VALUE` words (`SOFT:HARD` when they differ).
pub fn limit_words(limits: &Limits) -> String {
    let mut out = String::new();
    for (name, limit) in limits {
        if !out.is_empty() {
            out.push(' ');
        }
        let _ = match limit {
            Limit::Resource { soft, hard } if soft == hard => write!(out, "{name}={soft}"),
            Limit::Resource { soft, hard } => write!(out, "{name}={soft}:{hard}"),
            Limit::Cgroup(Some(n)) => write!(out, "{name}={n}"),
            Limit::Cgroup(None) => write!(out, "{name}=max"),
        };
    }
    out
}

/// Milliseconds as seconds for the scripts: `1`, `0.5`, `2.25`.
pub fn seconds_text(ms: u64) -> String {
    if ms % 1000 == 0 {
        return (ms / 1000).to_string();
    }
    let text = format!("{}.{:03}", ms / 1000, ms % 1000);
    text.trim_end_matches('0').to_string()
}

/// `respawn`: `true` (the defaults), `false`/absent (none) or a set of
/// [`RESPAWN_ATTRIBUTES`]; only for a foreground process under the supervisor.
pub(super) fn parse_respawn(
    attrs: &Attrs,
    is_daemon: bool,
    wrapper: &str,
) -> Result<Option<Respawn>> {
    let respawn = match attrs.get("respawn") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => return Ok(None),
        Some(Value::Bool(true)) => Respawn::default(),
        Some(value @ Value::Object(_)) => {
            let set = attrs.nested("respawn", value)?;
            set.check_known(RESPAWN_ATTRIBUTES)?;
            let defaults = Respawn::default();
            let attempts = set.opt_u32("attempts")?.unwrap_or(defaults.attempts);
            if attempts == 0 {
                return Err(
                    set.invalid("attempts", "must be at least 1 (to respawn at all)".into())
                );
            }
            let window_ms = opt_seconds(&set, "window")?.unwrap_or(defaults.window_ms);
            if window_ms == 0 {
                return Err(set.invalid("window", "must be more than 0 seconds".into()));
            }
            Respawn {
                delay_ms: opt_seconds(&set, "delay")?.unwrap_or(defaults.delay_ms),
                attempts,
                window_ms,
                settle_ms: opt_seconds(&set, "settle")?.unwrap_or(defaults.settle_ms),
            }
        }
        Some(other) => {
            return Err(attrs.wrong_type("respawn", "a boolean or an attribute set", other))
        }
    };
    if is_daemon {
        return Err(attrs.invalid(
            "respawn",
            "only a foreground process (processIsDaemon = false) can be respawned: a daemon that forks away has no supervisor to notice its exit".into(),
        ));
    }
    needs_supervisor(attrs, "respawn", wrapper)?;
    Ok(Some(respawn))
}

/// The error for `key` when the foreground wrapper is not the supervisor.
fn needs_supervisor(attrs: &Attrs, key: &str, wrapper: &str) -> Result<()> {
    if is_supervisor(wrapper) {
        return Ok(());
    }
    Err(attrs.invalid(
        key,
        format!("needs {SUPERVISOR} as the wrapper of foreground processes, but config.startProcessAsDaemon is '{wrapper}'"),
    ))
}

/// Whether `wrapper` (a foreground process's wrapper program) is the supervisor.
pub fn is_supervisor(wrapper: &str) -> bool {
    wrapper.rsplit('/').next() == Some(SUPERVISOR)
}

/// `logRotate` of a process or a composition: `false` (none), `true` (`default`), a
/// set of [`LOG_ROTATE_ATTRIBUTES`]; absent: `default`.
pub(super) fn parse_log_rotate(
    attrs: &Attrs,
    default: Option<LogRotate>,
) -> Result<Option<LogRotate>> {
    let value = match attrs.get("logRotate") {
        None | Some(Value::Null) => return Ok(default),
        Some(Value::Bool(false)) => return Ok(None),
        Some(Value::Bool(true)) => return Ok(Some(default.unwrap_or(DEFAULT_LOG_ROTATE))),
        Some(value) => value,
    };
    let set = attrs.nested("logRotate", value)?;
    set.check_known(LOG_ROTATE_ATTRIBUTES)?;
    let base = default.unwrap_or(DEFAULT_LOG_ROTATE);
    let max_size = match set.get("maxSize") {
        None | Some(Value::Null) => base.max_size,
        Some(v) => size(&set, "maxSize", v)?,
    };
    if max_size == 0 {
        return Err(set.invalid(
            "maxSize",
            "must be more than 0 bytes (use logRotate = false for one file)".into(),
        ));
    }
    let keep = set.opt_u32("keep")?.unwrap_or(base.keep);
    if keep > 1000 {
        return Err(set.invalid("keep", format!("{keep} files is more than 1000")));
    }
    Ok(Some(LogRotate { max_size, keep }))
}

/// `logRotate` given on a process whose wrapper cannot rotate: an error (a composition
/// default is only not applied there).
pub(super) fn check_log_rotate_wrapper(attrs: &Attrs, wrapper: &str) -> Result<()> {
    match attrs.get("logRotate") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Ok(()),
        Some(_) => needs_supervisor(attrs, "logRotate", wrapper),
    }
}

/// `logFiles`: the absolute paths of the log files the program writes itself (rotated by
/// logrotate with the tree's configuration); no character logrotate would read as a glob
/// or that cannot stand in its configuration (`*?[]{}`, quotes, backslash, blanks).
pub(super) fn parse_log_files(attrs: &Attrs) -> Result<Vec<String>> {
    let files = attrs.string_list("logFiles")?;
    for (i, file) in files.iter().enumerate() {
        let bad = file
            .chars()
            .find(|c| c.is_whitespace() || c.is_control() || "*?[]{}\"'\\".contains(*c));
        if !file.starts_with('/') || bad.is_some() {
            return Err(attrs.invalid(
                &format!("logFiles[{i}]"),
                format!(
                    "{file:?} is not an absolute path without blanks, quotes, backslashes or glob characters (logrotate reads it)"
                ),
            ));
        }
    }
    Ok(files)
}

/// `limits`: resource limits by prlimit's names (a value, `unlimited` or `{ soft; hard; }`;
/// sizes in bytes or with a K/M/G/T suffix) and the cgroup limits `memory` (a size or
/// `max`), `pids` (a number or `max`) and `cpuWeight` (1 to 10000).
pub(super) fn parse_limits(attrs: &Attrs) -> Result<Limits> {
    let mut limits = Limits::new();
    let Some(set) = attrs.opt_nested("limits")? else {
        return Ok(limits);
    };
    set.check_known(LIMIT_NAMES)?;
    for (name, value) in set.map_entries() {
        let limit = if CGROUP_LIMITS.contains(&name.as_str()) {
            Limit::Cgroup(cgroup_limit(&set, name, value)?)
        } else {
            resource_limit(&set, name, value)?
        };
        limits.insert(name.clone(), limit);
    }
    Ok(limits)
}

/// A cgroup limit's value: `None` for `max` (`unlimited`).
fn cgroup_limit(set: &Attrs, name: &str, value: &Value) -> Result<Option<u64>> {
    if matches!(value, Value::String(s) if s == "max" || s == "unlimited") && name != "cpuWeight" {
        return Ok(None);
    }
    let n = match name {
        "memory" => size(set, name, value)?,
        _ => count(set, name, value)?,
    };
    match name {
        "cpuWeight" if !(1..=10_000).contains(&n) => Err(set.invalid(
            name,
            format!("{n} is outside 1..10000 (100 is the default share)"),
        )),
        "pids" | "memory" if n == 0 => Err(set.invalid(name, "0 would let nothing run".into())),
        _ => Ok(Some(n)),
    }
}

/// A resource limit: one value for both ends, or `{ soft; hard; }`.
fn resource_limit(set: &Attrs, name: &str, value: &Value) -> Result<Limit> {
    let (soft, hard) = match value {
        Value::Object(_) => {
            let ends = set.nested(name, value)?;
            ends.check_known(&["soft", "hard"])?;
            let end = |key: &str| -> Result<LimitValue> {
                match ends.get(key) {
                    Some(v) => limit_value(&ends, key, name, v),
                    None => Err(set.invalid(name, "give both 'soft' and 'hard'".into())),
                }
            };
            (end("soft")?, end("hard")?)
        }
        _ => {
            let v = limit_value(set, name, name, value)?;
            (v, v)
        }
    };
    if let (LimitValue::At(s), LimitValue::At(h)) = (soft, hard) {
        if s > h {
            return Err(set.invalid(
                name,
                format!("the soft limit {s} is above the hard limit {h}"),
            ));
        }
    }
    if let (LimitValue::Unlimited, LimitValue::At(h)) = (soft, hard) {
        return Err(set.invalid(
            name,
            format!("the soft limit is unlimited but the hard limit is {h}"),
        ));
    }
    Ok(Limit::Resource { soft, hard })
}

/// One end of resource limit `name` (written at `key`).
fn limit_value(set: &Attrs, key: &str, name: &str, value: &Value) -> Result<LimitValue> {
    if matches!(value, Value::String(s) if s == "unlimited") {
        return Ok(LimitValue::Unlimited);
    }
    if !BYTE_LIMITS.contains(&name) {
        return count(set, key, value).map(LimitValue::At);
    }
    let n = size(set, key, value)?;
    if n % 1024 != 0 {
        return Err(set.invalid(
            key,
            format!("{n} bytes is not a multiple of 1024 (the shell sets {name} in KiB)"),
        ));
    }
    Ok(LimitValue::At(n))
}

/// A non-negative integer.
fn count(set: &Attrs, key: &str, value: &Value) -> Result<u64> {
    match value {
        Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| set.invalid(key, format!("{n} is not a non-negative integer"))),
        other => Err(set.wrong_type(key, "a non-negative integer", other)),
    }
}

/// A size: bytes as an integer, or a string like `512K`, `10M`, `1G` (binary units).
fn size(set: &Attrs, key: &str, value: &Value) -> Result<u64> {
    let text = match value {
        Value::String(s) => s.trim(),
        _ => return count(set, key, value),
    };
    let bad = || {
        set.invalid(
            key,
            format!("{text:?} is not a size such as 1048576, \"512K\", \"10M\" or \"1G\""),
        )
    };
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &text[digits.len()..];
    let factor: u64 = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        "T" | "TB" | "TIB" => 1 << 40,
        _ => return Err(bad()),
    };
    let n: u64 = digits.parse().map_err(|_| bad())?;
    n.checked_mul(factor).ok_or_else(bad)
}

/// An optional number of seconds (an integer or a decimal) as milliseconds.
fn opt_seconds(set: &Attrs, key: &str) -> Result<Option<u64>> {
    match set.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(s) if s.is_finite() && (0.0..=1e9).contains(&s) => {
                Ok(Some((s * 1000.0).round() as u64))
            }
            _ => Err(set.invalid(key, format!("{n} is not a number of seconds"))),
        },
        Some(other) => Err(set.wrong_type(key, "a number of seconds", other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_written_as_the_scripts_read_them() {
        assert_eq!(seconds_text(1000), "1");
        assert_eq!(seconds_text(500), "0.5");
        assert_eq!(seconds_text(2250), "2.25");
        assert_eq!(seconds_text(0), "0");
    }

    #[test]
    fn limit_words_name_both_ends_only_when_they_differ() {
        let mut limits = Limits::new();
        limits.insert(
            "nofile".into(),
            Limit::Resource {
                soft: LimitValue::At(1024),
                hard: LimitValue::At(4096),
            },
        );
        limits.insert(
            "core".into(),
            Limit::Resource {
                soft: LimitValue::Unlimited,
                hard: LimitValue::Unlimited,
            },
        );
        limits.insert("memory".into(), Limit::Cgroup(None));
        limits.insert("pids".into(), Limit::Cgroup(Some(64)));
        assert_eq!(
            limit_words(&limits),
            "core=unlimited memory=max nofile=1024:4096 pids=64"
        );
    }
}
